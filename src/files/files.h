/*
 * files — the encrypted blob store for uploaded documents and message attachments, and the checks
 * a file passes before it is kept: a size limit, content sniffing with libmagic against an allow
 * list (the declared type and the file name are never trusted) and a malware scan by ClamAV's clamd
 * (INSTREAM, fed chunk by chunk as the upload arrives).
 *
 * Owns: the blobs under DATA/files/ (named by random hex, never by a user-given name) and the `file`
 * table (through store/store_files.h). Each file has its own random 256-bit data key, sealed by
 * crypto/ (envelope: file key under the current DEK under the KEK) into its row; destroying that
 * sealed key crypto-shreds the file. Content is encrypted in 64 KiB chunks with AES-256-GCM; the
 * nonce is the chunk index and the AAD binds the file id, the chunk index and a final-chunk flag,
 * so that chunks cannot be swapped between files, reordered, dropped or the file truncated without
 * the decryption failing. Memory is O(chunk) whatever the file size.
 *
 * Also: the HTTP API (api.c) — upload and download of patient files and documents (DocumentReference)
 * — which follows DESIGN.md's path: session, policy, one audit record, fail closed.
 */
#ifndef PP_FILES_H
#define PP_FILES_H

#include "core/core.h"

struct pp_store;
struct pp_crypto;
struct pp_http_server;

typedef struct pp_files pp_files;
typedef struct pp_files_upload pp_files_upload;
typedef struct pp_files_reader pp_files_reader;

#define PP_FILES_CHUNK (64 * 1024)      /* plaintext bytes per encrypted chunk */
#define PP_FILES_ID_LEN 32              /* hex characters of a file id */
#define PP_FILES_NAME_MAX 128           /* bytes of a sanitised display name */
#define PP_FILES_MIME_MAX 80

/* Opens the store under cfg->data_dir/files (created 0700). PP_ECONFIG for a bad files.scan_mode
 * or files.allowed_types. st and c are borrowed. */
int pp_files_open(pp_files **out, const pp_config *cfg, struct pp_store *st, struct pp_crypto *c);
void pp_files_close(pp_files *f);

/* ---- metadata of a stored file ---- */
typedef struct pp_files_info {
	char id[PP_FILES_ID_LEN + 1];   /* opaque file id served by the API */
	int64_t row_id;
	int64_t patient_id;             /* Patient row id the file belongs to */
	int64_t uploader_id;            /* user id */
	char kind[16];                  /* "upload", "document", "attachment" */
	char mime[PP_FILES_MIME_MAX];   /* sniffed type */
	uint64_t size;
	char status[16];                /* "clean", "quarantined", "shredded" */
	int64_t message_id;             /* linked message row, 0 when none */
	int64_t docref_id;              /* DocumentReference resource row, 0 when none */
	int64_t created_ms;
} pp_files_info;

/* ---- upload: begin, write pieces as they arrive, finish (or free without finishing to drop
 * everything written). Not thread-safe per upload; uploads are independent. ---- */
typedef struct pp_files_upload_opts {
	int64_t patient_id;
	int64_t uploader_id;
	const char *kind;               /* NULL: "upload" */
	const char *name;               /* display name as sent (sanitised here; may be NULL) */
} pp_files_upload_opts;

/* Refusal codes (stable, for the client and the audit detail; never PHI):
 *   "too_large", "type_not_allowed", "executable_refused", "empty_file", "malware_detected",
 *   "scan_unavailable", "storage_error" */
/* Opens the blob, and the clamd stream unless files.scan_mode is "quarantine" and clamd cannot be
 * reached. PP_EBUSY with *refusal "scan_unavailable" when clamd is down in "refuse" mode. */
int pp_files_upload_begin(pp_files *f, const pp_files_upload_opts *o, pp_files_upload **out,
                          const char **refusal);
/* Feeds body bytes. Fails (and the upload is dead: free it) with *refusal set. */
int pp_files_upload_write(pp_files_upload *u, const void *data, size_t len, const char **refusal);
/* Seals the last chunk, gets clamd's verdict, makes the blob durable and inserts the row. On
 * success *info describes the file ("clean", or "quarantined" when it could not be scanned in
 * quarantine mode). A refused file leaves nothing behind. *virus gets clamd's signature name on
 * "malware_detected" (a stable code, not PHI) when virus is not NULL. */
int pp_files_upload_finish(pp_files_upload *u, pp_files_info *info, const char **refusal,
                           char *virus, size_t viruscap);
/* bytes fed so far; the sniffed type once known ("" before) */
uint64_t pp_files_upload_size(const pp_files_upload *u);
const char *pp_files_upload_mime(const pp_files_upload *u);
/* Releases the upload; unless it finished, the blob is deleted and nothing is recorded. Does not
 * block (safe on an I/O thread). */
void pp_files_upload_free(pp_files_upload *u);

/* ---- lookup and download ---- */
/* PP_ENOTFOUND for an unknown id (or a malformed one) */
int pp_files_get(pp_files *f, const char *id, pp_files_info *out);
/* The sanitised display name (malloc'd, caller frees with pp_crypto_free_plain(name, strlen)). */
int pp_files_name(pp_files *f, const pp_files_info *info, char **name);
/* Opens a clean file for reading (PP_EDENIED when it is quarantined, PP_ENOTFOUND when shredded).
 * Sequential reads of the plaintext, decrypting chunk by chunk; PP_ECRYPTO on any tampering. */
int pp_files_reader_open(pp_files *f, const pp_files_info *info, pp_files_reader **out);
int pp_files_reader_read(pp_files_reader *rd, void *buf, size_t max, size_t *n);
void pp_files_reader_free(pp_files_reader *rd);

typedef int (*pp_files_cb)(void *ctx, const pp_files_info *info);   /* non-zero stops */
/* a patient's files of one kind (NULL: all kinds), newest first */
int pp_files_each_for_patient(pp_files *f, int64_t patient_id, const char *kind, pp_files_cb cb,
                              void *ctx);

/* ---- for messaging, records and retention ---- */
int pp_files_link_message(pp_files *f, const char *id, int64_t message_id);
int pp_files_set_docref(pp_files *f, const char *id, int64_t docref_id);
/* Crypto-shreds a file: destroys its sealed key, deletes the blob, marks the row "shredded"
 * (kept for the audit trail, holding no content and no name). */
int pp_files_shred(pp_files *f, const char *id);
/* Scans quarantined files again; those clamd now calls clean become "clean", infected ones are
 * shredded. *cleaned / *infected / *failed count them. */
int pp_files_rescan(pp_files *f, int *cleaned, int *infected, int *failed);

/* ---- pieces exposed for unit tests, the fuzzers and the benchmark ---- */
/* Sanitises a display name: percent-decodes (when pct is true), keeps valid UTF-8 only, drops
 * control characters and path separators ('/', '\\'), trims dots and spaces at the ends, caps at
 * PP_FILES_NAME_MAX bytes (on a character boundary); "file" when nothing is left. out needs
 * PP_FILES_NAME_MAX + 1 bytes. PP_EINVAL for a malformed percent-encoding. */
int pp_files_name_sanitise(const char *in, size_t len, bool pct, char out[PP_FILES_NAME_MAX + 1]);
/* clamd's reply to INSTREAM: 0 = clean ("stream: OK"), 1 = infected (*sig gets the name),
 * PP_EINVAL for an error or anything else. */
int pp_files_clamd_parse(const char *reply, size_t len, char *sig, size_t sigcap);
/* Chunk encryption: out gets len + 16 bytes. The AAD is built from file_id, index and final. */
int pp_files_chunk_seal(const uint8_t key[32], const char *file_id, uint64_t index, bool final,
                        const void *pt, size_t len, uint8_t *out);
int pp_files_chunk_open(const uint8_t key[32], const char *file_id, uint64_t index, bool final,
                        const uint8_t *ct, size_t len /* incl. tag */, uint8_t *out);
/* whole-blob helpers over a file descriptor (what the store writes and reads): the stream
 * encryptor and decryptor the upload and the reader use */
typedef struct pp_files_sealer pp_files_sealer;
int pp_files_sealer_new(pp_files_sealer **out, const uint8_t key[32], const char *file_id, int fd);
int pp_files_sealer_write(pp_files_sealer *s, const void *data, size_t len);
int pp_files_sealer_finish(pp_files_sealer *s);
void pp_files_sealer_free(pp_files_sealer *s);
/* decrypts a whole blob from fd into out_fd (or discards when out_fd < 0); *size gets the bytes */
int pp_files_blob_decrypt_fd(const uint8_t key[32], const char *file_id, int fd, int out_fd,
                             uint64_t *size);

/* registers the HTTP API (docs/api.md "Files and documents") */
int pp_files_routes(struct pp_http_server *s, pp_app *app, pp_files *f);
/* `phiportal files rescan`: returns the process exit code */
int pp_files_cli(pp_files *f, int argc, char **argv);

#endif
