/* files: ClamAV's clamd over its socket (a unix socket path, or "host:port" / "tcp://host:port"),
 * INSTREAM with NUL-terminated commands: "zINSTREAM\0", then chunks each prefixed by its length
 * (u32 big endian), a zero-length chunk to end, and one NUL-terminated reply: "stream: OK",
 * "stream: <signature> FOUND" or "... ERROR". Sends and the verdict are bounded by a timeout. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include "files/files_internal.h"

#define CLAMD_CHUNK_MAX (1024 * 1024)
#define REPLY_MAX 1024

struct pp_files_scan {
	int fd;
	bool failed;
};

static void set_timeouts(int fd, int timeout_s)
{
	struct timeval tv = {.tv_sec = timeout_s > 0 ? timeout_s : 60, .tv_usec = 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int connect_tcp(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1;
	if (!colon || (size_t)(colon - spec) >= sizeof host || colon == spec || !colon[1])
		return -1;
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return PP_EIO;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int pp_files_scan_begin(const char *spec, int timeout_s, pp_files_scan **out)
{
	pp_files_scan *sc;
	int fd;
	*out = NULL;
	if (!spec || !*spec)
		return PP_EIO;
	if (!strncmp(spec, "unix:", 5))
		fd = connect_unix(spec + 5);
	else if (spec[0] == '/')
		fd = connect_unix(spec);
	else
		fd = connect_tcp(!strncmp(spec, "tcp://", 6) ? spec + 6 : spec);
	if (fd < 0)
		return PP_EIO;
	set_timeouts(fd, timeout_s);
	if (send_all(fd, "zINSTREAM", 10)) {   /* with its NUL */
		close(fd);
		return PP_EIO;
	}
	if (!(sc = calloc(1, sizeof(*sc)))) {
		close(fd);
		return PP_ENOMEM;
	}
	sc->fd = fd;
	*out = sc;
	return 0;
}

int pp_files_scan_feed(pp_files_scan *sc, const void *data, size_t len)
{
	const uint8_t *p = data;
	if (!sc || sc->failed)
		return PP_EIO;
	while (len) {
		size_t n = len > CLAMD_CHUNK_MAX ? CLAMD_CHUNK_MAX : len;
		uint8_t pre[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
		if (send_all(sc->fd, pre, 4) || send_all(sc->fd, p, n)) {
			sc->failed = true;   /* e.g. clamd closed the stream: size limit exceeded */
			return PP_EIO;
		}
		p += n;
		len -= n;
	}
	return 0;
}

int pp_files_scan_finish(pp_files_scan *sc, char *sig, size_t sigcap)
{
	static const uint8_t end[4] = {0, 0, 0, 0};
	char reply[REPLY_MAX + 1];
	size_t got = 0;
	if (sig && sigcap)
		sig[0] = '\0';
	if (!sc)
		return PP_EIO;
	/* even after a failed send clamd may have left a reply (e.g. "size limit exceeded") */
	if (!sc->failed && send_all(sc->fd, end, sizeof end))
		sc->failed = true;
	shutdown(sc->fd, SHUT_WR);
	while (got < REPLY_MAX) {
		ssize_t r = recv(sc->fd, reply + got, REPLY_MAX - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
		if (memchr(reply, '\0', got))
			break;
	}
	reply[got] = '\0';
	if (sc->failed)
		return PP_EIO;
	return pp_files_clamd_parse(reply, strlen(reply), sig, sigcap);
}

void pp_files_scan_free(pp_files_scan *sc)
{
	if (!sc)
		return;
	if (sc->fd >= 0)
		close(sc->fd);
	free(sc);
}

int pp_files_clamd_parse(const char *reply, size_t len, char *sig, size_t sigcap)
{
	static const char prefix[] = "stream: ";
	const size_t plen = sizeof(prefix) - 1;
	const char *p, *end;
	size_t n;
	if (sig && sigcap)
		sig[0] = '\0';
	if (!reply)
		return PP_EINVAL;
	/* one line: cut at NUL or newline */
	for (n = 0; n < len && reply[n] && reply[n] != '\n'; n++)
		;
	if (n > REPLY_MAX || n < plen || memcmp(reply, prefix, plen))
		return PP_EINVAL;
	p = reply + plen;
	end = reply + n;
	if (end - p == 2 && !memcmp(p, "OK", 2))
		return 0;
	if (end - p > 6 && !memcmp(end - 6, " FOUND", 6)) {
		size_t sl = (size_t)(end - 6 - p);
		/* a signature name is printable ASCII without spaces; anything else is an error */
		for (size_t i = 0; i < sl; i++)
			if (p[i] <= 0x20 || p[i] >= 0x7f)
				return PP_EINVAL;
		if (sig && sigcap) {
			if (sl >= sigcap)
				sl = sigcap - 1;
			memcpy(sig, p, sl);
			sig[sl] = '\0';
		}
		return 1;
	}
	return PP_EINVAL;   /* "... ERROR" and anything unexpected */
}
