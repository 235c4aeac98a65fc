/* files: the store — uploads (size limit, libmagic type check, clamd scan, chunked encryption to a
 * blob under DATA/files, then the metadata row), readers, lookups, links, crypto-shredding and the
 * rescan of quarantined files. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <magic.h>

#include "files/files_internal.h"
#include "crypto/crypto.h"
#include "store/store_files.h"

#define SNIFF_BYTES (16 * 1024)
#define MAX_TYPES 16

struct pp_files {
	pp_store *st;
	pp_crypto *c;
	char dir[600];
	uint64_t max_bytes;
	char types[MAX_TYPES][PP_FILES_MIME_MAX];
	int ntypes;
	char clamd[256];
	bool quarantine_mode;
	int scan_timeout_s;
	magic_t magic;
	pthread_mutex_t magic_mu;   /* a magic_t is not thread-safe */
};

struct pp_files_upload {
	pp_files *f;
	int64_t patient_id, uploader_id;
	char kind[16];
	char name[PP_FILES_NAME_MAX + 1];
	char id[PP_FILES_ID_LEN + 1];
	char blob[PP_FILES_ID_LEN + 1];
	char path[700], part[720];
	uint8_t key[32];
	int fd;
	pp_files_sealer *sealer;
	gnutls_hash_hd_t sha;
	bool have_sha;
	pp_files_scan *scan;        /* NULL: not scanned (quarantine mode, clamd down) */
	bool scan_failed;
	uint64_t size;
	uint8_t head[SNIFF_BYTES];
	size_t headlen;
	bool sniffed;
	char mime[PP_FILES_MIME_MAX];
	bool dead, done;
};

struct pp_files_reader {
	pp_files_opener o;
	int fd;
	uint8_t ct[PP_FILES_CHUNK + PP_FILES_TAG];
	uint8_t pt[PP_FILES_CHUNK];
	size_t have, off;
	uint64_t pos, size;
};

static const char *const exec_types[] = {
	"application/x-executable", "application/x-pie-executable", "application/x-sharedlib",
	"application/x-dosexec", "application/x-mach-binary", "application/x-msdownload",
	"application/vnd.microsoft.portable-executable", "application/x-elf", "application/x-object",
	"application/x-coredump",
};

/* ---- open / close ---- */

static int parse_types(pp_files *f, const char *list)
{
	const char *p = list;
	while (*p) {
		size_t n;
		while (*p == ' ' || *p == ',')
			p++;
		if (!*p)
			break;
		n = strcspn(p, ", ");
		if (n == 0 || n >= PP_FILES_MIME_MAX || f->ntypes >= MAX_TYPES || !memchr(p, '/', n))
			return PP_ECONFIG;
		memcpy(f->types[f->ntypes], p, n);
		f->types[f->ntypes][n] = '\0';
		f->ntypes++;
		p += n;
	}
	return f->ntypes ? 0 : PP_ECONFIG;
}

int pp_files_open(pp_files **out, const pp_config *cfg, pp_store *st, pp_crypto *c)
{
	pp_files *f = NULL;
	int rc = PP_ENOMEM;
	if (!out || !cfg || !st || !c)
		return PP_EINVAL;
	*out = NULL;
	if (!(f = calloc(1, sizeof(*f))))
		return PP_ENOMEM;
	pthread_mutex_init(&f->magic_mu, NULL);
	f->st = st;
	f->c = c;
	f->max_bytes = cfg->files_max_bytes > 0 ? (uint64_t)cfg->files_max_bytes : 25u << 20;
	f->scan_timeout_s = cfg->files_scan_timeout_s;
	snprintf(f->clamd, sizeof f->clamd, "%s", cfg->files_clamd_socket);
	if (!strcmp(cfg->files_scan_mode, "quarantine")) {
		f->quarantine_mode = true;
	} else if (strcmp(cfg->files_scan_mode, "refuse")) {
		pp_log_error("files: files.scan_mode must be \"refuse\" or \"quarantine\"");
		rc = PP_ECONFIG;
		goto out;
	}
	if ((rc = parse_types(f, cfg->files_allowed_types))) {
		pp_log_error("files: files.allowed_types must be a comma-separated list of MIME types");
		goto out;
	}
	if ((rc = pp_path_join(f->dir, sizeof f->dir, cfg->data_dir, "files")))
		goto out;
	if (mkdir(f->dir, 0700) && errno != EEXIST) {
		pp_log_error("files: cannot create the files directory: %s", strerror(errno));
		rc = PP_EIO;
		goto out;
	}
	f->magic = magic_open(MAGIC_MIME_TYPE | MAGIC_ERROR);
	if (!f->magic || magic_load(f->magic, NULL) != 0) {
		pp_log_error("files: cannot load the libmagic database");
		rc = PP_ECONFIG;
		goto out;
	}
	*out = f;
	f = NULL;
	rc = 0;
out:
	pp_files_close(f);
	return rc;
}

void pp_files_close(pp_files *f)
{
	if (!f)
		return;
	if (f->magic)
		magic_close(f->magic);
	pthread_mutex_destroy(&f->magic_mu);
	free(f);
}

/* ---- upload ---- */

static bool is_hex_id(const char *s)
{
	return s && strlen(s) == PP_FILES_ID_LEN && strspn(s, "0123456789abcdef") == PP_FILES_ID_LEN;
}

static int random_hex(char out[PP_FILES_ID_LEN + 1])
{
	uint8_t b[PP_FILES_ID_LEN / 2];
	if (pp_random(b, sizeof b))
		return PP_EIO;
	pp_hex_encode(b, sizeof b, out);
	return 0;
}

static int scan_hook(void *ctx, const uint8_t *pt, size_t len, bool final)
{
	pp_files_upload *u = ctx;
	(void)final;
	if (u->scan && !u->scan_failed && len && pp_files_scan_feed(u->scan, pt, len))
		u->scan_failed = true;   /* decided at finish: refuse, or quarantine */
	return 0;
}

int pp_files_upload_begin(pp_files *f, const pp_files_upload_opts *o, pp_files_upload **out,
                          const char **refusal)
{
	pp_files_upload *u = NULL;
	int rc;
	const char *why = "storage_error";
	if (refusal)
		*refusal = NULL;
	if (!f || !o || !out || o->patient_id <= 0)
		return PP_EINVAL;
	*out = NULL;
	if (!(u = calloc(1, sizeof(*u))))
		return PP_ENOMEM;
	u->f = f;
	u->fd = -1;
	u->patient_id = o->patient_id;
	u->uploader_id = o->uploader_id;
	snprintf(u->kind, sizeof u->kind, "%s", o->kind ? o->kind : "upload");
	if ((rc = pp_files_name_sanitise(o->name, o->name ? strlen(o->name) : 0, false, u->name)))
		goto out;
	if ((rc = random_hex(u->id)) || (rc = random_hex(u->blob)) || pp_random(u->key, 32)) {
		rc = PP_EIO;
		goto out;
	}
	if ((rc = pp_path_join(u->path, sizeof u->path, f->dir, u->blob)))
		goto out;
	snprintf(u->part, sizeof u->part, "%s.part", u->path);
	rc = pp_files_scan_begin(f->clamd, f->scan_timeout_s, &u->scan);
	if (rc == PP_ENOMEM)
		goto out;
	if (rc) {
		u->scan = NULL;
		if (!f->quarantine_mode) {
			pp_log_warn("files: clamd cannot be reached; upload refused (files.scan_mode=refuse)");
			why = "scan_unavailable";
			rc = PP_EBUSY;
			goto out;
		}
		pp_log_warn("files: clamd cannot be reached; the upload will be quarantined");
	}
	if (gnutls_hash_init(&u->sha, GNUTLS_DIG_SHA256) < 0) {
		rc = PP_ECRYPTO;
		goto out;
	}
	u->have_sha = true;
	u->fd = open(u->part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (u->fd < 0) {
		pp_log_error("files: cannot create a blob: %s", strerror(errno));
		rc = PP_EIO;
		goto out;
	}
	if ((rc = pp_files_sealer_new(&u->sealer, u->key, u->id, u->fd)))
		goto out;
	pp_files_sealer_set_hook(u->sealer, scan_hook, u);
	*out = u;
	u = NULL;
	rc = 0;
out:
	if (rc && refusal)
		*refusal = why;
	pp_files_upload_free(u);
	return rc;
}

static bool type_allowed(const pp_files *f, const char *mime)
{
	for (int i = 0; i < f->ntypes; i++)
		if (!strcmp(f->types[i], mime))
			return true;
	return false;
}

/* decides the type on the first bytes; a refusal code or NULL */
static const char *sniff(pp_files_upload *u)
{
	pp_files *f = u->f;
	const char *m;
	u->sniffed = true;
	if (u->headlen == 0)
		return "empty_file";
	if (u->headlen >= 4 && !memcmp(u->head, "\x7f" "ELF", 4)) {
		snprintf(u->mime, sizeof u->mime, "application/x-executable");
		return "executable_refused";
	}
	pthread_mutex_lock(&f->magic_mu);
	m = magic_buffer(f->magic, u->head, u->headlen);
	snprintf(u->mime, sizeof u->mime, "%s", m ? m : "application/octet-stream");
	pthread_mutex_unlock(&f->magic_mu);
	for (size_t i = 0; i < sizeof exec_types / sizeof exec_types[0]; i++)
		if (!strcmp(u->mime, exec_types[i]))
			return "executable_refused";
	if (!type_allowed(f, u->mime))
		return "type_not_allowed";
	return NULL;
}

int pp_files_upload_write(pp_files_upload *u, const void *data, size_t len, const char **refusal)
{
	const char *why = NULL;
	int rc;
	if (refusal)
		*refusal = NULL;
	if (!u || u->dead || u->done || (!data && len))
		return PP_EINVAL;
	if (u->size + len > u->f->max_bytes) {
		why = "too_large";
		rc = PP_ETOOBIG;
		goto fail;
	}
	if (!u->sniffed) {
		size_t take = SNIFF_BYTES - u->headlen;
		if (take > len)
			take = len;
		memcpy(u->head + u->headlen, data, take);
		u->headlen += take;
		if (u->headlen == SNIFF_BYTES && (why = sniff(u))) {
			rc = PP_EINVAL;
			goto fail;
		}
	}
	u->size += len;
	if (gnutls_hash(u->sha, data, len) < 0) {
		why = "storage_error";
		rc = PP_ECRYPTO;
		goto fail;
	}
	if ((rc = pp_files_sealer_write(u->sealer, data, len))) {
		why = "storage_error";
		goto fail;
	}
	return 0;
fail:
	u->dead = true;
	if (refusal)
		*refusal = why;
	return rc;
}

uint64_t pp_files_upload_size(const pp_files_upload *u)
{
	return u ? u->size : 0;
}

const char *pp_files_upload_mime(const pp_files_upload *u)
{
	return u ? u->mime : "";
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;
	if (fd < 0)
		return PP_EIO;
	if (fsync(fd))
		rc = PP_EIO;
	close(fd);
	return rc;
}

int pp_files_upload_finish(pp_files_upload *u, pp_files_info *info, const char **refusal,
                           char *virus, size_t viruscap)
{
	pp_files *f;
	pp_store_file row;
	uint8_t sha[32];
	const char *why = "storage_error";
	bool quarantine = false;
	int rc;
	if (refusal)
		*refusal = NULL;
	if (virus && viruscap)
		virus[0] = '\0';
	if (!u || u->dead || u->done || !info)
		return PP_EINVAL;
	f = u->f;
	memset(&row, 0, sizeof row);
	memset(info, 0, sizeof *info);
	if (!u->sniffed && (why = sniff(u))) {
		rc = PP_EINVAL;
		goto out;
	}
	why = "storage_error";
	if ((rc = pp_files_sealer_finish(u->sealer)))
		goto out;
	/* the verdict: OK → clean; FOUND → refused; no answer → refused, or quarantined */
	if (u->scan) {
		char sig[128];
		rc = u->scan_failed ? PP_EIO : pp_files_scan_finish(u->scan, sig, sizeof sig);
		if (rc == 1) {
			pp_log_warn("files: upload refused: malware signature %s", sig);
			if (virus && viruscap)
				snprintf(virus, viruscap, "%s", sig);
			why = "malware_detected";
			rc = PP_EDENIED;
			goto out;
		}
		if (rc < 0) {
			if (!f->quarantine_mode) {
				pp_log_warn("files: clamd gave no verdict; upload refused");
				why = "scan_unavailable";
				rc = PP_EBUSY;
				goto out;
			}
			quarantine = true;
		}
	} else {
		quarantine = true;
	}
	if (fsync(u->fd) || close(u->fd)) {
		u->fd = -1;
		rc = PP_EIO;
		goto out;
	}
	u->fd = -1;
	if (rename(u->part, u->path) || fsync_dir(f->dir)) {
		rc = PP_EIO;
		goto out;
	}
	/* the row */
	row.id = pp_store_new_id();
	if (row.id <= 0) {
		rc = PP_EIO;
		goto out;
	}
	memcpy(row.pub_id, u->id, sizeof u->id);
	memcpy(row.blob, u->blob, sizeof u->blob);
	row.patient_id = u->patient_id;
	row.uploader_id = u->uploader_id;
	snprintf(row.kind, sizeof row.kind, "%s", u->kind);
	snprintf(row.mime, sizeof row.mime, "%s", u->mime);
	row.size = (int64_t)u->size;
	gnutls_hash_output(u->sha, sha);
	if ((rc = pp_crypto_keyed_digest(f->c, sha, sizeof sha, row.digest)) ||
	    (rc = pp_crypto_seal(f->c, "file", "name", row.id, u->name, strlen(u->name),
	                         &row.name_enc, &row.name_enc_len)) ||
	    (rc = pp_crypto_seal(f->c, "file", "key", row.id, u->key, sizeof u->key, &row.key_enc,
	                         &row.key_enc_len)))
		goto out;
	snprintf(row.status, sizeof row.status, "%s", quarantine ? "quarantined" : "clean");
	row.created_ms = pp_clock_now_ms();
	row.scanned_ms = quarantine ? 0 : row.created_ms;
	if ((rc = pp_store_file_insert(f->st, &row)))
		goto out;
	u->done = true;
	memcpy(info->id, u->id, sizeof info->id);
	info->row_id = row.id;
	info->patient_id = row.patient_id;
	info->uploader_id = row.uploader_id;
	snprintf(info->kind, sizeof info->kind, "%s", row.kind);
	snprintf(info->mime, sizeof info->mime, "%s", row.mime);
	info->size = u->size;
	snprintf(info->status, sizeof info->status, "%s", row.status);
	info->created_ms = row.created_ms;
	rc = 0;
out:
	pp_wipe(sha, sizeof sha);
	pp_store_file_clear(&row);
	if (rc) {
		u->dead = true;
		if (refusal)
			*refusal = why;
	}
	return rc;
}

void pp_files_upload_free(pp_files_upload *u)
{
	if (!u)
		return;
	pp_files_sealer_free(u->sealer);
	if (u->fd >= 0)
		close(u->fd);
	if (!u->done) {
		/* nothing of a refused or abandoned upload stays */
		if (u->part[0])
			unlink(u->part);
		if (u->path[0])
			unlink(u->path);
	}
	pp_files_scan_free(u->scan);
	if (u->have_sha) {
		uint8_t tmp[32];
		gnutls_hash_deinit(u->sha, tmp);
		pp_wipe(tmp, sizeof tmp);
	}
	pp_wipe(u, sizeof(*u));
	free(u);
}

/* ---- lookups ---- */

static void info_from_row(const pp_store_file *r, pp_files_info *o)
{
	memset(o, 0, sizeof *o);
	snprintf(o->id, sizeof o->id, "%.32s", r->pub_id);
	o->row_id = r->id;
	o->patient_id = r->patient_id;
	o->uploader_id = r->uploader_id;
	snprintf(o->kind, sizeof o->kind, "%s", r->kind);
	snprintf(o->mime, sizeof o->mime, "%s", r->mime);
	o->size = r->size > 0 ? (uint64_t)r->size : 0;
	snprintf(o->status, sizeof o->status, "%s", r->status);
	o->message_id = r->message_id;
	o->docref_id = r->docref_id;
	o->created_ms = r->created_ms;
}

int pp_files_get(pp_files *f, const char *id, pp_files_info *out)
{
	pp_store_file row;
	int rc;
	if (!f || !out)
		return PP_EINVAL;
	if (!is_hex_id(id))
		return PP_ENOTFOUND;
	if ((rc = pp_store_file_get_pub(f->st, id, &row)))
		return rc;
	info_from_row(&row, out);
	pp_store_file_clear(&row);
	return 0;
}

int pp_files_name(pp_files *f, const pp_files_info *info, char **name)
{
	pp_store_file row;
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc;
	if (!f || !info || !name)
		return PP_EINVAL;
	*name = NULL;
	if ((rc = pp_store_file_get_pub(f->st, info->id, &row)))
		return rc;
	if (!row.name_enc || !row.name_enc_len)
		rc = PP_ENOTFOUND;
	else
		rc = pp_crypto_unseal(f->c, "file", "name", row.id, row.name_enc, row.name_enc_len, &pt,
		                      &len);
	pp_store_file_clear(&row);
	if (!rc)
		*name = (char *)pt;
	return rc;
}

typedef struct each_ctx {
	pp_files_cb cb;
	void *ctx;
} each_ctx;

static int each_row(void *vctx, const pp_store_file *r)
{
	each_ctx *e = vctx;
	pp_files_info info;
	info_from_row(r, &info);
	return e->cb(e->ctx, &info);
}

int pp_files_each_for_patient(pp_files *f, int64_t patient_id, const char *kind, pp_files_cb cb,
                              void *ctx)
{
	each_ctx e = {cb, ctx};
	if (!f || !cb)
		return PP_EINVAL;
	return pp_store_file_each_for_patient(f->st, patient_id, kind, each_row, &e);
}

/* ---- reading ---- */

static int unseal_key(pp_files *f, const pp_store_file *row, uint8_t key[32])
{
	uint8_t *pt = NULL;
	size_t len = 0;
	int rc;
	if (!row->key_enc || !row->key_enc_len)
		return PP_ENOTFOUND;   /* shredded */
	rc = pp_crypto_unseal(f->c, "file", "key", row->id, row->key_enc, row->key_enc_len, &pt, &len);
	if (rc)
		return rc;
	if (len != 32)
		rc = PP_ECRYPTO;
	else
		memcpy(key, pt, 32);
	pp_crypto_free_plain(pt, len);
	return rc;
}

static int open_blob(pp_files *f, const pp_store_file *row, pp_files_opener *o, int *fdp)
{
	char path[700];
	uint8_t key[32];
	int rc, fd;
	*fdp = -1;
	if (!is_hex_id(row->blob) || (rc = pp_path_join(path, sizeof path, f->dir, row->blob)))
		return PP_EIO;
	if ((rc = unseal_key(f, row, key)))
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		pp_wipe(key, sizeof key);
		return PP_EIO;
	}
	rc = pp_files_opener_init(o, key, row->pub_id, fd);
	pp_wipe(key, sizeof key);
	if (!rc && o->size != (uint64_t)row->size)
		rc = PP_ECRYPTO;   /* a blob of another length than recorded: truncated or replaced */
	if (rc) {
		pp_files_opener_clear(o);
		close(fd);
		return rc;
	}
	*fdp = fd;
	return 0;
}

static int reader_open_row(pp_files *f, const pp_store_file *row, bool allow_quarantined,
                           pp_files_reader **out)
{
	pp_files_reader *rd;
	int rc;
	*out = NULL;
	if (!strcmp(row->status, "shredded"))
		return PP_ENOTFOUND;
	if (strcmp(row->status, "clean") && !(allow_quarantined && !strcmp(row->status, "quarantined")))
		return PP_EDENIED;   /* never serve what was not scanned clean */
	if (!(rd = calloc(1, sizeof(*rd))))
		return PP_ENOMEM;
	if ((rc = open_blob(f, row, &rd->o, &rd->fd))) {
		free(rd);
		return rc;
	}
	rd->size = rd->o.size;
	*out = rd;
	return 0;
}

int pp_files_reader_open(pp_files *f, const pp_files_info *info, pp_files_reader **out)
{
	pp_store_file row;
	int rc;
	if (!f || !info || !out)
		return PP_EINVAL;
	*out = NULL;
	if ((rc = pp_store_file_get_pub(f->st, info->id, &row)))
		return rc;
	rc = reader_open_row(f, &row, false, out);
	pp_store_file_clear(&row);
	return rc;
}

int pp_files_reader_read(pp_files_reader *rd, void *buf, size_t max, size_t *n)
{
	size_t done = 0;
	int rc;
	*n = 0;
	if (!rd || (!buf && max))
		return PP_EINVAL;
	while (done < max && rd->pos < rd->size) {
		size_t take;
		if (rd->off == rd->have) {
			if ((rc = pp_files_opener_next(&rd->o, rd->ct, rd->pt, &rd->have)))
				return rc;
			rd->off = 0;
			if (!rd->have)
				break;
		}
		take = rd->have - rd->off;
		if (take > max - done)
			take = max - done;
		memcpy((uint8_t *)buf + done, rd->pt + rd->off, take);
		rd->off += take;
		done += take;
		rd->pos += take;
	}
	*n = done;
	return 0;
}

void pp_files_reader_free(pp_files_reader *rd)
{
	if (!rd)
		return;
	pp_files_opener_clear(&rd->o);
	if (rd->fd >= 0)
		close(rd->fd);
	pp_wipe(rd, sizeof(*rd));
	free(rd);
}

/* ---- links, shredding, rescans ---- */

int pp_files_link_message(pp_files *f, const char *id, int64_t message_id)
{
	pp_store_file row;
	int rc;
	if (!f || !is_hex_id(id))
		return PP_EINVAL;
	if ((rc = pp_store_file_get_pub(f->st, id, &row)))
		return rc;
	rc = pp_store_file_set_links(f->st, row.id, message_id, row.docref_id);
	pp_store_file_clear(&row);
	return rc;
}

int pp_files_set_docref(pp_files *f, const char *id, int64_t docref_id)
{
	pp_store_file row;
	int rc;
	if (!f || !is_hex_id(id))
		return PP_EINVAL;
	if ((rc = pp_store_file_get_pub(f->st, id, &row)))
		return rc;
	rc = pp_store_file_set_links(f->st, row.id, row.message_id, docref_id);
	pp_store_file_clear(&row);
	return rc;
}

static int shred_row(pp_files *f, const pp_store_file *row)
{
	char path[700];
	int rc;
	/* the key first: once it is gone the blob is noise, whatever happens to the unlink */
	if ((rc = pp_store_file_shred(f->st, row->id)))
		return rc;
	if (is_hex_id(row->blob) && !pp_path_join(path, sizeof path, f->dir, row->blob) &&
	    unlink(path) && errno != ENOENT)
		pp_log_warn("files: blob of a shredded file could not be removed: %s", strerror(errno));
	return 0;
}

int pp_files_shred(pp_files *f, const char *id)
{
	pp_store_file row;
	int rc;
	if (!f || !is_hex_id(id))
		return PP_EINVAL;
	if ((rc = pp_store_file_get_pub(f->st, id, &row)))
		return rc;
	rc = shred_row(f, &row);
	pp_store_file_clear(&row);
	return rc;
}

typedef struct rescan_ctx {
	pp_files *f;
	char (*ids)[PP_FILES_ID_LEN + 1];
	size_t n, cap;
} rescan_ctx;

static int collect(void *vctx, const pp_store_file *r)
{
	rescan_ctx *c = vctx;
	if (c->n >= c->cap)
		return 1;
	snprintf(c->ids[c->n++], PP_FILES_ID_LEN + 1, "%.32s", r->pub_id);
	return 0;
}

/* 0 clean, 1 infected, negative: no verdict */
static int rescan_one(pp_files *f, const pp_store_file *row)
{
	pp_files_reader *rd = NULL;
	pp_files_scan *sc = NULL;
	char sig[128];
	uint8_t *buf = NULL;
	int rc;
	if ((rc = reader_open_row(f, row, true, &rd)))
		goto out;
	if ((rc = pp_files_scan_begin(f->clamd, f->scan_timeout_s, &sc)))
		goto out;
	if (!(buf = malloc(PP_FILES_CHUNK))) {
		rc = PP_ENOMEM;
		goto out;
	}
	for (;;) {
		size_t n;
		if ((rc = pp_files_reader_read(rd, buf, PP_FILES_CHUNK, &n)))
			goto out;
		if (!n)
			break;
		if ((rc = pp_files_scan_feed(sc, buf, n)))
			goto out;
	}
	rc = pp_files_scan_finish(sc, sig, sizeof sig);
	if (rc == 1)
		pp_log_warn("files: rescan found malware signature %s; file shredded", sig);
out:
	if (buf)
		pp_wipe(buf, PP_FILES_CHUNK);
	free(buf);
	pp_files_scan_free(sc);
	pp_files_reader_free(rd);
	return rc;
}

int pp_files_rescan(pp_files *f, int *cleaned, int *infected, int *failed)
{
	rescan_ctx c = {0};
	int rc;
	*cleaned = *infected = *failed = 0;
	if (!f)
		return PP_EINVAL;
	c.f = f;
	c.cap = 1000;
	if (!(c.ids = calloc(c.cap, sizeof(*c.ids))))
		return PP_ENOMEM;
	if ((rc = pp_store_file_each_status(f->st, "quarantined", (int)c.cap, collect, &c)) < 0)
		goto out;
	rc = 0;
	for (size_t i = 0; i < c.n; i++) {
		pp_store_file row;
		int v;
		if (pp_store_file_get_pub(f->st, c.ids[i], &row)) {
			(*failed)++;
			continue;
		}
		v = rescan_one(f, &row);
		if (v == 0 && !pp_store_file_set_status(f->st, row.id, "clean", pp_clock_now_ms()))
			(*cleaned)++;
		else if (v == 1 && !shred_row(f, &row))
			(*infected)++;
		else
			(*failed)++;
		pp_store_file_clear(&row);
	}
out:
	free(c.ids);
	return rc;
}
