/*
 * The key file: 32 random bytes, the key-encryption key (KEK). It is created exclusively with mode
 * 0600 and refused when any group/other permission bit is set or when it is not a regular file.
 * The checks run on the opened descriptor (fstat), so the file that is checked is the file read.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "crypto/crypto_internal.h"

static int open_keyfile(const char *path, int *fd_out)
{
	int fd;

	/* O_NONBLOCK: opening a FIFO planted at the path must not hang start-up */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return PP_ENOTFOUND;
		pp_log_error("crypto: cannot open the key file (errno %d)", errno);
		return errno == EACCES ? PP_ECONFIG : PP_EIO;
	}
	*fd_out = fd;
	return 0;
}

static int check_fd(int fd)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return PP_EIO;
	if (!S_ISREG(sb.st_mode)) {
		pp_log_error("crypto: the key file is not a regular file");
		return PP_ECONFIG;
	}
	if (sb.st_mode & 077) {
		pp_log_error("crypto: the key file mode %03o gives access to group or others; "
		             "it must be 0600 or stricter", (unsigned)(sb.st_mode & 0777));
		return PP_ECONFIG;
	}
	if (sb.st_size != PP_CRYPTO_KEY_LEN) {
		pp_log_error("crypto: the key file must hold exactly %d bytes", PP_CRYPTO_KEY_LEN);
		return PP_ECONFIG;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, rc = 0;

	if (!slash) {
		dir[0] = '.';
		n = 1;
	} else {
		n = slash == path ? 1 : (size_t)(slash - path);
		if (n >= sizeof(dir))
			return PP_ETOOBIG;
		memcpy(dir, path, n);
	}
	dir[n] = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return PP_EIO;
	if (fsync(fd) != 0)
		rc = PP_EIO;
	close(fd);
	return rc;
}

int pp_crypto_keyfile_create(const char *path)
{
	uint8_t key[PP_CRYPTO_KEY_LEN];
	size_t off = 0;
	int fd = -1, rc, created = 0;

	if (!path || !*path)
		return PP_EINVAL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (fd < 0) {
		rc = errno == EEXIST ? PP_EEXISTS : PP_EIO;
		if (rc == PP_EIO)
			pp_log_error("crypto: cannot create the key file (errno %d)", errno);
		goto out;
	}
	created = 1;
	/* the umask can only remove bits, but be explicit about the mode we rely on */
	if (fchmod(fd, 0600) != 0) {
		rc = PP_EIO;
		goto out;
	}
	if (gnutls_rnd(GNUTLS_RND_KEY, key, sizeof(key)) < 0) {
		rc = PP_ECRYPTO;
		goto out;
	}
	while (off < sizeof(key)) {
		ssize_t w = write(fd, key + off, sizeof(key) - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = PP_EIO;
			goto out;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		rc = PP_EIO;
		goto out;
	}
	rc = close(fd) == 0 ? 0 : PP_EIO;
	fd = -1;
	if (rc == 0)
		rc = fsync_parent(path);
out:
	pp_wipe(key, sizeof(key));
	if (fd >= 0)
		close(fd);
	if (rc && created)
		unlink(path);
	return rc;
}

int pp_crypto_keyfile_check(const char *path)
{
	int fd = -1, rc;

	if (!path || !*path)
		return PP_EINVAL;
	rc = open_keyfile(path, &fd);
	if (rc)
		goto out;
	rc = check_fd(fd);
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int pp_crypto_keyfile_load(const char *path, uint8_t kek[PP_CRYPTO_KEY_LEN])
{
	uint8_t buf[PP_CRYPTO_KEY_LEN + 1];
	size_t off = 0;
	int fd = -1, rc;

	if (!path || !*path || !kek)
		return PP_EINVAL;
	rc = open_keyfile(path, &fd);
	if (rc)
		goto out;
	rc = check_fd(fd);
	if (rc)
		goto out;
	/* read one byte more than expected so a file that grew after fstat is refused */
	for (;;) {
		ssize_t r = read(fd, buf + off, sizeof(buf) - off);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			rc = PP_EIO;
			goto out;
		}
		if (r == 0)
			break;
		off += (size_t)r;
		if (off == sizeof(buf))
			break;
	}
	if (off != PP_CRYPTO_KEY_LEN) {
		rc = PP_ECONFIG;
		goto out;
	}
	memcpy(kek, buf, PP_CRYPTO_KEY_LEN);
	rc = 0;
out:
	pp_wipe(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return rc;
}
