/* store/ for msg/: secure messaging between a patient and a care-team pool. Threads, messages,
 * per-side read receipts, per-user soft deletes, drafts (one per thread and author), reassignment
 * and misdirected-move events, and the attachment links of a message. Subjects, bodies (with the
 * structured fields of a request), drafts and reasons arrive here only as ciphertext sealed by
 * crypto/; ids shown to clients are the random pub_ids, never row ids. Unread counts are computed
 * by queries over the receipts and deletions (never kept as counters), so read, delete and move
 * keep them right by construction. */
#ifndef PP_STORE_MSG_H
#define PP_STORE_MSG_H

#include "store/store.h"

#define PP_STORE_MSG_PUB_LEN 33   /* 32 hex characters + NUL */

typedef struct pp_store_msg_thread {
	int64_t id;                       /* random row id (the AAD binds it) */
	char pub_id[PP_STORE_MSG_PUB_LEN];
	int64_t patient_id;               /* the Patient resource row the thread is about */
	int64_t pool_id;                  /* the care-team pool that answers it */
	char kind[24];                    /* kind of the first message */
	uint8_t *subject_enc;             /* AAD ("msg_thread","subject",id) */
	size_t subject_enc_len;
	int64_t created_by;               /* user id */
	int64_t created_ms, updated_ms;   /* updated: last message */
	int unread;                       /* filled by pp_store_msg_thread_each: for the viewer */
	int visible;                      /* filled by pp_store_msg_thread_each: messages the viewer sees */
} pp_store_msg_thread;
void pp_store_msg_thread_clear(pp_store_msg_thread *t);

int pp_store_msg_thread_insert(pp_store *st, const pp_store_msg_thread *t);
int pp_store_msg_thread_get_pub(pp_store *st, const char *pub_id, pp_store_msg_thread *out);
int pp_store_msg_thread_get(pp_store *st, int64_t id, pp_store_msg_thread *out);
/* the thread a message (row id) is in */
int pp_store_msg_thread_of(pp_store *st, int64_t message_id, int64_t *thread_id);
/* reassignment (pool_id), whole-thread move (patient_id); 0 leaves a field as it is */
int pp_store_msg_thread_update(pp_store *st, int64_t id, int64_t pool_id, int64_t patient_id,
                               int64_t updated_ms);

/* Who is looking: the inbox, unread counts and search are always for one viewer. A patient
 * (patient_id > 0) sees the threads of that patient; staff (patient_id == 0) the threads of the
 * pools user_id is a member of. side is the viewer's side, "patient" or "staff". */
typedef struct pp_store_msg_viewer {
	int64_t user_id;
	int64_t patient_id;
	const char *side;
} pp_store_msg_viewer;

typedef int (*pp_store_msg_thread_cb)(void *ctx, const pp_store_msg_thread *t);
/* The viewer's threads that hold at least one message the viewer has not deleted, most recently
 * updated first, at most limit; with unread and visible filled in. */
int pp_store_msg_thread_each(pp_store *st, const pp_store_msg_viewer *v, int limit,
                             pp_store_msg_thread_cb cb, void *ctx);
/* messages from the other side the viewer has neither read nor deleted, over all their threads */
int pp_store_msg_unread_count(pp_store *st, const pp_store_msg_viewer *v, int64_t *n);

typedef struct pp_store_msg {
	int64_t id;
	char pub_id[PP_STORE_MSG_PUB_LEN];
	int64_t thread_id;
	int64_t author_id;                /* user id */
	char side[8];                     /* "patient" or "staff" */
	char kind[24];                    /* "text", "refill", "appointment", "result_question" */
	uint8_t *content_enc;             /* AAD ("msg_message","content",id): {"body","fields"} */
	size_t content_enc_len;
	int64_t created_ms;
	int64_t patient_read_ms;          /* read receipt of the patient side, 0: unread */
	int64_t staff_read_ms;            /* read receipt of the pool side, 0: unread */
	int64_t staff_read_by;            /* the staff user who read it first */
	int64_t in_reply_to;              /* the message before it in the thread, 0: none */
	/* filled by the each functions (not stored in the message row) */
	char thread_pub[PP_STORE_MSG_PUB_LEN];
	int64_t thread_patient_id, thread_pool_id;
} pp_store_msg;
void pp_store_msg_clear(pp_store_msg *m);

int pp_store_msg_insert(pp_store *st, const pp_store_msg *m);
/* thread_pub, thread_patient_id and thread_pool_id are filled in */
int pp_store_msg_get_pub(pp_store *st, const char *pub_id, pp_store_msg *out);
typedef int (*pp_store_msg_cb)(void *ctx, const pp_store_msg *m);
/* The thread's messages the viewer has not deleted, oldest first (viewer user_id 0: all). */
int pp_store_msg_each_in_thread(pp_store *st, int64_t thread_id, int64_t viewer_user_id,
                                pp_store_msg_cb cb, void *ctx);
/* The viewer's messages (as pp_store_msg_thread_each chooses threads, not deleted by the viewer),
 * newest first, at most limit: the bounded set a search decrypts. */
int pp_store_msg_each_visible(pp_store *st, const pp_store_msg_viewer *v, int limit,
                              pp_store_msg_cb cb, void *ctx);
/* read receipts: marks the thread's messages from the other side as read by the viewer's side
 * (those not yet read); *changed gets the number marked */
int pp_store_msg_mark_read(pp_store *st, int64_t thread_id, const pp_store_msg_viewer *v,
                           int64_t now_ms, int *changed);
/* soft delete for one user; PP_EEXISTS when already deleted by that user */
int pp_store_msg_delete_for(pp_store *st, int64_t message_id, int64_t user_id, int64_t now_ms);
/* moves one message to another thread */
int pp_store_msg_set_thread(pp_store *st, int64_t message_id, int64_t thread_id);
/* the newest message of a thread (any author), PP_ENOTFOUND when empty */
int pp_store_msg_last_in_thread(pp_store *st, int64_t thread_id, int64_t *message_id);

/* drafts: one per (thread, author); the row id (the AAD's) changes with every save */
int pp_store_msg_draft_put(pp_store *st, int64_t id, int64_t thread_id, int64_t author_id,
                           const uint8_t *content_enc, size_t len, int64_t now_ms);
/* *content_enc malloc'd; PP_ENOTFOUND when none */
int pp_store_msg_draft_get(pp_store *st, int64_t thread_id, int64_t author_id, int64_t *id,
                           uint8_t **content_enc, size_t *len, int64_t *updated_ms);
/* PP_ENOTFOUND when there was none */
int pp_store_msg_draft_delete(pp_store *st, int64_t thread_id, int64_t author_id);

/* reassignment and misdirected-move history; the reason is sealed with AAD
 * ("msg_event","reason",id). kind: "reassign" (from/to are pool ids) or "move" (patient row ids). */
typedef struct pp_store_msg_event {
	int64_t id;
	int64_t thread_id;
	int64_t message_id;               /* 0: the whole thread */
	char kind[16];
	int64_t actor_id;
	int64_t from_ref, to_ref;
	const uint8_t *reason_enc;
	size_t reason_enc_len;
	int64_t created_ms;
} pp_store_msg_event;
int pp_store_msg_event_insert(pp_store *st, const pp_store_msg_event *e);

/* attachments: the file ids (opaque, from files/) listed on a message */
int pp_store_msg_attachment_add(pp_store *st, int64_t message_id, const char *file_id);
typedef int (*pp_store_msg_attachment_cb)(void *ctx, const char *file_id);
int pp_store_msg_attachment_each(pp_store *st, int64_t message_id, pp_store_msg_attachment_cb cb,
                                 void *ctx);

/* the user ids of a pool's members (whom a new patient message concerns) */
typedef int (*pp_store_msg_user_cb)(void *ctx, int64_t user_id);
int pp_store_msg_pool_members(pp_store *st, int64_t pool_id, pp_store_msg_user_cb cb, void *ctx);

#endif
