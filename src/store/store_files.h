/* store/ for files/: the metadata row of each stored file (the blob itself lives on disk under
 * DATA/files/). The display name and the file's data key are sealed by crypto/ before they reach
 * this table (AAD ("file","name",id) and ("file","key",id)); the digest is keyed. */
#ifndef PP_STORE_FILES_H
#define PP_STORE_FILES_H

#include "store/store.h"

typedef struct pp_store_file {
	int64_t id;              /* random row id (the AAD of the sealed columns) */
	char pub_id[40];         /* opaque id served by the API (32 hex) */
	char blob[40];           /* file name under DATA/files (32 hex) */
	int64_t patient_id;
	int64_t uploader_id;
	char kind[16];           /* "upload", "document", "attachment" */
	char mime[80];
	int64_t size;
	uint8_t digest[32];      /* keyed digest of SHA-256(plaintext) */
	uint8_t *name_enc; size_t name_enc_len;
	uint8_t *key_enc; size_t key_enc_len;   /* NULL once shredded */
	char status[16];         /* "clean", "quarantined", "shredded" */
	int64_t message_id;
	int64_t docref_id;
	int64_t created_ms;
	int64_t scanned_ms;
} pp_store_file;

void pp_store_file_clear(pp_store_file *f);    /* frees the sealed columns */
int pp_store_file_insert(pp_store *st, const pp_store_file *f);
int pp_store_file_get_pub(pp_store *st, const char *pub_id, pp_store_file *out);
typedef int (*pp_store_file_cb)(void *ctx, const pp_store_file *f);   /* non-zero stops */
/* one patient's files of one kind (NULL: all), newest first */
int pp_store_file_each_for_patient(pp_store *st, int64_t patient_id, const char *kind,
                                   pp_store_file_cb cb, void *ctx);
/* every file with this status (oldest first, at most limit) */
int pp_store_file_each_status(pp_store *st, const char *status, int limit, pp_store_file_cb cb,
                              void *ctx);
int pp_store_file_set_status(pp_store *st, int64_t id, const char *status, int64_t scanned_ms);
int pp_store_file_set_links(pp_store *st, int64_t id, int64_t message_id, int64_t docref_id);
/* destroys the sealed key and name and marks the row "shredded" */
int pp_store_file_shred(pp_store *st, int64_t id);

#endif
