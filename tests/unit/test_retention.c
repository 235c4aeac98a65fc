/* jobs/ retention and legal holds, against a real store, key file, audit log and file store in a
 * temporary directory, with the injectable clock moved forward: a dry run lists exactly what would
 * go and changes nothing; a run purges expired messages (rows gone, their ciphertext not in the
 * database or WAL bytes), shreds expired attachments and documents (key destroyed, blob deleted,
 * DocumentReference removed) and leaves held items; releasing the hold lets the next run take them;
 * a thread hold covers only its thread; every purge is one audit record without content and the
 * chain verifies; an audit log that cannot be written stops the run with nothing purged; holds
 * refuse bad input; the audit retention below six years fails the configuration baseline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "audit/audit.h"
#include "crypto/crypto.h"
#include "files/files.h"
#include "jobs/jobs.h"
#include "store/store_access.h"
#include "store/store_files.h"
#include "store/store_msg.h"
#include "store/store_retention.h"

#define DAY_MS 86400000LL

typedef struct fx {
	char dir[64], db[128], key[128], audit[128];
	pp_config cfg;
	pp_store *st;
	pp_crypto *c;
	pp_audit *au;
	pp_files *files;
	pp_app app;
	pp_principal officer;
	int64_t alice, bob, pool;
	char alice_pub[40], bob_pub[40];
	pp_store_msg_thread ta, tb, tb2;     /* alice's thread; bob's two threads */
	char ma[33], mb[33], mb2[33];        /* one message in each */
	uint8_t ct_a[32];                    /* a slice of alice's message ciphertext */
	char att_a[PP_FILES_ID_LEN + 1], att_b[PP_FILES_ID_LEN + 1], doc_a[PP_FILES_ID_LEN + 1];
	int64_t docref_a;
} fx;

static int64_t add_patient(fx *f, int64_t id, char pub[40])
{
	pp_store_resource r = {.id = id, .type = "Patient", .patient_id = id, .version = 1};
	static uint8_t body[4] = {9, 9, 9, 9};

	memset(r.lid_bidx, (int)id, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "%032llx", (long long)id);
	snprintf(pub, 40, "%s", r.pub_id);
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	return id;
}

static void new_thread(fx *f, int64_t patient, pp_store_msg_thread *t)
{
	memset(t, 0, sizeof *t);
	t->id = pp_store_new_id();
	snprintf(t->pub_id, sizeof t->pub_id, "%032llx", (long long)t->id);
	t->patient_id = patient;
	t->pool_id = f->pool;
	snprintf(t->kind, sizeof t->kind, "text");
	t->created_ms = t->updated_ms = pp_clock_now_ms();
	assert_int_equal(pp_crypto_seal(f->c, "msg_thread", "subject", t->id, "Subject", 7,
	                                &t->subject_enc, &t->subject_enc_len), 0);
	assert_int_equal(pp_store_msg_thread_insert(f->st, t), 0);
}

static void add_msg(fx *f, const pp_store_msg_thread *t, const char *body, char pub[33],
                    uint8_t *ct_slice)
{
	pp_store_msg m;
	char content[256];

	memset(&m, 0, sizeof m);
	m.id = pp_store_new_id();
	snprintf(m.pub_id, sizeof m.pub_id, "%032llx", (long long)m.id);
	snprintf(pub, 33, "%s", m.pub_id);
	m.thread_id = t->id;
	m.author_id = 11;
	snprintf(m.side, sizeof m.side, "patient");
	snprintf(m.kind, sizeof m.kind, "text");
	m.created_ms = pp_clock_now_ms();
	snprintf(content, sizeof content, "{\"body\":\"%s\",\"fields\":{}}", body);
	assert_int_equal(pp_crypto_seal(f->c, "msg_message", "content", m.id, content,
	                                strlen(content), &m.content_enc, &m.content_enc_len), 0);
	assert_true(m.content_enc_len > 20 + 32);
	if (ct_slice)
		memcpy(ct_slice, m.content_enc + 20, 32);
	assert_int_equal(pp_store_msg_insert(f->st, &m), 0);
	pp_store_msg_clear(&m);
}

static void upload(fx *f, int64_t patient, const char *kind, const char *text, char id[33],
                   int64_t *row)
{
	pp_files_upload_opts o = {.patient_id = patient, .uploader_id = 11, .kind = kind,
	                          .name = "note.txt"};
	pp_files_upload *u = NULL;
	pp_files_info info;
	const char *why = NULL;

	assert_int_equal(pp_files_upload_begin(f->files, &o, &u, &why), 0);
	assert_int_equal(pp_files_upload_write(u, text, strlen(text), &why), 0);
	assert_int_equal(pp_files_upload_finish(u, &info, &why, NULL, 0), 0);
	pp_files_upload_free(u);
	snprintf(id, 33, "%s", info.id);
	if (row)
		*row = info.row_id;
}

/* a DocumentReference row for a document, as files/api.c makes one */
static int64_t add_docref(fx *f, int64_t patient, const char *file_id)
{
	pp_store_resource r = {.type = "DocumentReference", .patient_id = patient, .version = 1};
	static uint8_t body[4] = {7, 7, 7, 7};

	r.id = pp_store_new_id();
	memset(r.lid_bidx, 0x5a, sizeof r.lid_bidx);
	snprintf(r.pub_id, sizeof r.pub_id, "%032llx", (long long)r.id);
	r.body = body;
	r.body_len = sizeof body;
	assert_int_equal(pp_store_resource_put(f->st, &r), 0);
	assert_int_equal(pp_files_set_docref(f->files, file_id, r.id), 0);
	return r.id;
}

static int open_audit(fx *f, int busy_ms)
{
	pp_audit_options o = {.path = f->audit, .checkpoint_every = 1000, .checkpoint_seconds = 60,
	                      .group_commit = true, .busy_timeout_ms = busy_ms};

	return pp_audit_open(&f->au, &o, f->c);
}

static int setup(void **state)
{
	fx *f = calloc(1, sizeof *f);
	pp_store_pool pool = {.name = "Dr. Reyes' team", .created_ms = 1};
	char hold[33];
	const char *why;

	assert_non_null(f);
	pp_log_set_level(PP_LOG_ERROR);
	pp_clock_set_offset_ms(0);
	snprintf(f->dir, sizeof f->dir, "/tmp/pp_retention_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof f->db, "%s/phiportal.db", f->dir);
	snprintf(f->key, sizeof f->key, "%s/master.key", f->dir);
	snprintf(f->audit, sizeof f->audit, "%s/audit.db", f->dir);
	pp_config_defaults(&f->cfg, f->dir);
	/* clamd is not running here: files wait in quarantine, as they may in production */
	snprintf(f->cfg.files_scan_mode, sizeof f->cfg.files_scan_mode, "quarantine");
	snprintf(f->cfg.files_clamd_socket, sizeof f->cfg.files_clamd_socket, "%s/no-clamd", f->dir);
	assert_int_equal(pp_store_open(&f->st, f->db), 0);
	assert_int_equal(pp_crypto_keyfile_create(f->key), 0);
	assert_int_equal(pp_crypto_open(&f->c, f->key, f->st), 0);
	assert_int_equal(open_audit(f, 2000), 0);
	assert_int_equal(pp_files_open(&f->files, &f->cfg, f->st, f->c), 0);
	f->app = (pp_app){.cfg = &f->cfg, .store = f->st, .crypto = f->c, .audit = f->au};
	snprintf(f->officer.actor, sizeof f->officer.actor, "user:31");
	snprintf(f->officer.role, sizeof f->officer.role, "privacy_officer");
	f->alice = add_patient(f, 1001, f->alice_pub);
	f->bob = add_patient(f, 1002, f->bob_pub);
	assert_int_equal(pp_store_pool_insert(f->st, &pool, &f->pool), 0);
	new_thread(f, f->alice, &f->ta);
	new_thread(f, f->bob, &f->tb);
	new_thread(f, f->bob, &f->tb2);
	add_msg(f, &f->ta, "alice-secret-words", f->ma, f->ct_a);
	add_msg(f, &f->tb, "bob-secret-words", f->mb, NULL);
	add_msg(f, &f->tb2, "bob-other-thread", f->mb2, NULL);
	upload(f, f->alice, "attachment", "alice attachment text\n", f->att_a, NULL);
	upload(f, f->bob, "attachment", "bob attachment text\n", f->att_b, NULL);
	upload(f, f->alice, "document", "alice document text\n", f->doc_a, NULL);
	f->docref_a = add_docref(f, f->alice, f->doc_a);
	/* bob's whole record is on hold */
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", f->bob_pub,
	                                    "Litigation: case 2031-17", hold, &why), 0);
	assert_null(why);
	assert_int_equal(strlen(hold), 32);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	fx *f = *state;
	char cmd[160];

	pp_clock_set_offset_ms(0);
	pp_files_close(f->files);
	pp_audit_close(f->au);
	pp_crypto_free(f->c);
	pp_store_close(f->st);
	pp_store_msg_thread_clear(&f->ta);
	pp_store_msg_thread_clear(&f->tb);
	pp_store_msg_thread_clear(&f->tb2);
	snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static json_t *run(fx *f, bool dry, int expect_rc)
{
	pp_jobs_retention_opts o = {.dry_run = dry, .actor = "system:test", .actor_role = "operator"};
	json_t *rep = NULL;

	assert_int_equal(pp_jobs_retention_run(&f->app, f->files, &o, &rep), expect_rc);
	assert_non_null(rep);
	return rep;
}

static json_int_t count(json_t *rep, const char *section, const char *kind)
{
	return json_integer_value(json_object_get(json_object_get(json_object_get(rep, "counts"),
	                                                          section), kind));
}

static bool listed(json_t *rep, const char *section, const char *id)
{
	size_t i;
	json_t *it;

	json_array_foreach(json_object_get(rep, section), i, it)
		if (!strcmp(json_string_value(json_object_get(it, "id")), id))
			return true;
	return false;
}

static bool msg_exists(fx *f, const char *pub)
{
	pp_store_msg m;
	int rc = pp_store_msg_get_pub(f->st, pub, &m);

	if (!rc)
		pp_store_msg_clear(&m);
	assert_true(rc == 0 || rc == PP_ENOTFOUND);
	return rc == 0;
}

static const char *file_status(fx *f, const char *id, char out[16])
{
	pp_files_info info;

	assert_int_equal(pp_files_get(f->files, id, &info), 0);
	snprintf(out, 16, "%s", info.status);
	return out;
}

static bool blob_exists(fx *f, const char *id)
{
	pp_store_file row;
	char path[300];
	bool yes;

	memset(&row, 0, sizeof row);
	assert_int_equal(pp_store_file_get_pub(f->st, id, &row), 0);
	snprintf(path, sizeof path, "%s/files/%s", f->dir, row.blob);
	yes = access(path, F_OK) == 0;
	pp_store_file_clear(&row);
	return yes;
}

static bool bytes_in_file(const char *path, const uint8_t *needle, size_t n)
{
	char *data = NULL;
	size_t len = 0;
	bool found = false;

	if (pp_file_read(path, 256u << 20, &data, &len))
		return false;
	for (size_t i = 0; !found && len >= n && i <= len - n; i++)
		found = !memcmp(data + i, needle, n);
	free(data);
	return found;
}

/* audit records with this action (and the text "needle" nowhere in any record) */
typedef struct audit_scan {
	const char *action, *needle;
	int n, leaks;
} audit_scan;

static int scan_one(void *ctx, int64_t seq, int64_t ts, const pp_audit_event *ev)
{
	audit_scan *a = ctx;
	const char *fields[] = {ev->detail, ev->resource_id, ev->patient, ev->action};

	(void)seq;
	(void)ts;
	if (ev->action && !strcmp(ev->action, a->action))
		a->n++;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (fields[i] && a->needle && strstr(fields[i], a->needle))
			a->leaks++;
	return 0;
}

static int audit_count(fx *f, const char *patient, const char *action)
{
	audit_scan a = {.action = action, .needle = "secret"};

	assert_int_equal(pp_audit_history(f->au, patient, 0, 1000, scan_one, &a), 0);
	assert_int_equal(a.leaks, 0);
	return a.n;
}

static void verify_chain(fx *f)
{
	pp_buf rep;
	int64_t bad = 0, n = 0;

	pp_buf_init(&rep, 1 << 16);
	assert_int_equal(pp_audit_verify(f->audit, f->c, &rep, &bad, &n), 0);
	assert_true(n > 0);
	pp_buf_free(&rep);
}

static void test_nothing_expires_early(void **state)
{
	fx *f = *state;
	json_t *rep;

	pp_clock_set_offset_ms(2554 * DAY_MS);   /* a day before the message retention ends */
	rep = run(f, false, 0);
	assert_int_equal(count(rep, "purge", "message"), 0);
	assert_int_equal(count(rep, "purge", "thread"), 0);
	assert_int_equal(count(rep, "purge", "attachment"), 0);
	assert_int_equal(count(rep, "held", "message"), 0);
	assert_true(msg_exists(f, f->ma));
	json_decref(rep);
}

static void test_dry_run_lists_and_changes_nothing(void **state)
{
	fx *f = *state;
	json_t *rep;
	char st[16];

	pp_clock_set_offset_ms(2600 * DAY_MS);   /* messages and attachments expired, documents not */
	rep = run(f, true, 0);
	assert_true(json_is_true(json_object_get(rep, "dry_run")));
	assert_int_equal(count(rep, "purge", "message"), 1);
	assert_int_equal(count(rep, "purge", "thread"), 1);
	assert_int_equal(count(rep, "purge", "attachment"), 1);
	assert_int_equal(count(rep, "purge", "document"), 0);
	assert_int_equal(count(rep, "held", "message"), 2);
	assert_int_equal(count(rep, "held", "thread"), 2);
	assert_int_equal(count(rep, "held", "attachment"), 1);
	assert_true(listed(rep, "purge", f->ma));
	assert_true(listed(rep, "purge", f->ta.pub_id));
	assert_true(listed(rep, "purge", f->att_a));
	assert_true(listed(rep, "held", f->mb));
	assert_true(listed(rep, "held", f->att_b));
	assert_false(listed(rep, "purge", f->mb));
	assert_false(listed(rep, "purge", f->doc_a));
	/* the listed age and patient */
	{
		json_t *it = json_array_get(json_object_get(rep, "purge"), 0);
		size_t i;
		json_array_foreach(json_object_get(rep, "purge"), i, it)
			if (!strcmp(json_string_value(json_object_get(it, "id")), f->ma))
				break;
		assert_int_equal(json_integer_value(json_object_get(it, "age_days")), 2600);
		assert_string_equal(json_string_value(json_object_get(it, "patient_id")), f->alice_pub);
	}
	/* nothing changed */
	assert_true(msg_exists(f, f->ma));
	assert_string_equal(file_status(f, f->att_a, st), "quarantined");
	assert_true(blob_exists(f, f->att_a));
	assert_int_equal(audit_count(f, f->alice_pub, "retention.purge"), 0);
	json_decref(rep);
}

static void test_run_purges_expired_keeps_held(void **state)
{
	fx *f = *state;
	json_t *rep;
	char st[16], wal[160];
	pp_files_reader *rd = NULL;
	pp_files_info info;

	/* the ciphertext is on disk before (so its absence afterwards means something) */
	snprintf(wal, sizeof wal, "%s-wal", f->db);
	assert_true(bytes_in_file(f->db, f->ct_a, sizeof f->ct_a) ||
	            bytes_in_file(wal, f->ct_a, sizeof f->ct_a));
	pp_clock_set_offset_ms(2600 * DAY_MS);
	rep = run(f, false, 0);
	assert_false(json_is_true(json_object_get(rep, "dry_run")));
	assert_int_equal(count(rep, "purge", "message"), 1);
	assert_int_equal(count(rep, "purge", "thread"), 1);
	assert_int_equal(count(rep, "purge", "attachment"), 1);
	assert_true(json_is_true(json_object_get(rep, "wal_truncated")));
	/* alice's message and thread are gone, their ciphertext too */
	assert_false(msg_exists(f, f->ma));
	{
		pp_store_msg_thread t;
		assert_int_equal(pp_store_msg_thread_get_pub(f->st, f->ta.pub_id, &t), PP_ENOTFOUND);
	}
	assert_false(bytes_in_file(f->db, f->ct_a, sizeof f->ct_a));
	assert_false(bytes_in_file(wal, f->ct_a, sizeof f->ct_a));
	/* her attachment is shredded: no key, no blob, no download */
	assert_string_equal(file_status(f, f->att_a, st), "shredded");
	assert_false(blob_exists(f, f->att_a));
	assert_int_equal(pp_files_get(f->files, f->att_a, &info), 0);
	assert_int_equal(pp_files_reader_open(f->files, &info, &rd), PP_ENOTFOUND);
	/* bob's (held) survive */
	assert_true(msg_exists(f, f->mb));
	assert_true(msg_exists(f, f->mb2));
	assert_string_equal(file_status(f, f->att_b, st), "quarantined");
	assert_true(blob_exists(f, f->att_b));
	/* the document is not due yet */
	assert_string_equal(file_status(f, f->doc_a, st), "quarantined");
	/* one audit record per purged item, naming the patient and no content; the chain verifies */
	assert_int_equal(audit_count(f, f->alice_pub, "retention.purge"), 3);
	assert_int_equal(audit_count(f, f->bob_pub, "retention.purge"), 0);
	verify_chain(f);
	json_decref(rep);
	/* a second run finds nothing more */
	rep = run(f, false, 0);
	assert_int_equal(count(rep, "purge", "message"), 0);
	assert_int_equal(count(rep, "purge", "attachment"), 0);
	assert_int_equal(count(rep, "held", "message"), 2);
	json_decref(rep);
}

typedef struct hold_find {
	const char *scope;
	char id[40];
	int n;
} hold_find;

static int find_hold(void *ctx, const pp_store_hold *h)
{
	hold_find *x = ctx;

	x->n++;
	if (!strcmp(h->scope, x->scope))
		snprintf(x->id, sizeof x->id, "%s", h->pub_id);
	return 0;
}

static void test_release_then_purged(void **state)
{
	fx *f = *state;
	hold_find hf = {.scope = "patient"};
	json_t *rep, *holds = NULL;
	char st[16];

	assert_int_equal(pp_store_hold_each(f->st, false, find_hold, &hf), 0);
	assert_int_equal(hf.n, 1);
	/* the reason is stored sealed and listed opened */
	assert_int_equal(pp_jobs_holds_json(&f->app, false, &holds), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(holds, 0), "reason")),
	                    "Litigation: case 2031-17");
	assert_string_equal(json_string_value(json_object_get(json_array_get(holds, 0), "target")),
	                    f->bob_pub);
	json_decref(holds);
	assert_false(bytes_in_file(f->db, (const uint8_t *)"Litigation", 10));

	pp_clock_set_offset_ms(2600 * DAY_MS);
	assert_int_equal(pp_jobs_hold_release(&f->app, &f->officer, hf.id), 0);
	assert_int_equal(pp_jobs_hold_release(&f->app, &f->officer, hf.id), PP_ENOTFOUND);
	assert_int_equal(audit_count(f, f->bob_pub, "legal_hold.place"), 1);
	assert_int_equal(audit_count(f, f->bob_pub, "legal_hold.release"), 1);
	rep = run(f, false, 0);
	assert_int_equal(count(rep, "purge", "message"), 3);
	assert_int_equal(count(rep, "purge", "thread"), 3);
	assert_int_equal(count(rep, "purge", "attachment"), 2);
	assert_int_equal(count(rep, "held", "message"), 0);
	assert_false(msg_exists(f, f->mb));
	assert_string_equal(file_status(f, f->att_b, st), "shredded");
	/* the released hold is still listed with all=true, with who released it */
	assert_int_equal(pp_jobs_holds_json(&f->app, true, &holds), 0);
	assert_string_equal(json_string_value(json_object_get(json_array_get(holds, 0),
	                                                      "released_by")), "user:31");
	json_decref(holds);
	verify_chain(f);
	json_decref(rep);
}

static void test_thread_hold_covers_only_its_thread(void **state)
{
	fx *f = *state;
	hold_find hf = {.scope = "patient"};
	char id[33];
	const char *why;
	json_t *rep;

	assert_int_equal(pp_store_hold_each(f->st, false, find_hold, &hf), 0);
	assert_int_equal(pp_jobs_hold_release(&f->app, &f->officer, hf.id), 0);
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "thread", f->tb.pub_id, "Complaint",
	                                    id, &why), 0);
	pp_clock_set_offset_ms(2600 * DAY_MS);
	rep = run(f, false, 0);
	assert_true(msg_exists(f, f->mb));       /* held thread */
	assert_false(msg_exists(f, f->mb2));     /* bob's other thread */
	assert_false(msg_exists(f, f->ma));
	assert_int_equal(count(rep, "held", "message"), 1);
	assert_int_equal(count(rep, "held", "thread"), 1);
	assert_true(listed(rep, "held", f->tb.pub_id));
	assert_int_equal(audit_count(f, f->bob_pub, "legal_hold.place"), 2);
	json_decref(rep);
}

static void test_documents_shredded_with_docref(void **state)
{
	fx *f = *state;
	pp_store_resource r;
	json_t *rep;
	char st[16];

	pp_clock_set_offset_ms(3651 * DAY_MS);
	rep = run(f, false, 0);
	assert_int_equal(count(rep, "purge", "document"), 1);
	assert_string_equal(file_status(f, f->doc_a, st), "shredded");
	assert_false(blob_exists(f, f->doc_a));
	memset(&r, 0, sizeof r);
	assert_int_equal(pp_store_resource_get(f->st, f->docref_a, &r), PP_ENOTFOUND);
	pp_store_resource_clear(&r);
	json_decref(rep);
}

static void test_audit_down_stops_the_run(void **state)
{
	fx *f = *state;
	sqlite3 *db = NULL;
	json_t *rep;
	char st[16];

	/* reopen the audit log with a short busy timeout, then lock its database */
	pp_audit_close(f->au);
	assert_int_equal(open_audit(f, 100), 0);
	f->app.audit = f->au;
	assert_int_equal(sqlite3_open(f->audit, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	pp_clock_set_offset_ms(2600 * DAY_MS);
	rep = run(f, false, PP_EAUDIT);
	json_decref(rep);
	/* the item in progress was rolled back: everything is still there — the attachment (the
	 * first item of the run) with its sealed key and its blob */
	assert_true(msg_exists(f, f->ma));
	assert_string_equal(file_status(f, f->att_a, st), "quarantined");
	assert_true(blob_exists(f, f->att_a));
	{
		pp_store_file row;
		memset(&row, 0, sizeof row);
		assert_int_equal(pp_store_file_get_pub(f->st, f->att_a, &row), 0);
		assert_non_null(row.key_enc);
		assert_true(row.key_enc_len > 0);
		pp_store_file_clear(&row);
	}
	/* a dry run is not reported either */
	rep = NULL;
	{
		pp_jobs_retention_opts o = {.dry_run = true, .actor = "system:test"};
		assert_int_equal(pp_jobs_retention_run(&f->app, f->files, &o, &rep), PP_EAUDIT);
		json_decref(rep);
	}
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	assert_int_equal(audit_count(f, f->alice_pub, "retention.purge"), 0);
	/* once the audit log is back the run completes */
	rep = run(f, false, 0);
	assert_false(msg_exists(f, f->ma));
	assert_string_equal(file_status(f, f->att_a, st), "shredded");
	assert_false(blob_exists(f, f->att_a));
	json_decref(rep);
}

static void put_draft(fx *f, const pp_store_msg_thread *t, int64_t author)
{
	uint8_t *ct = NULL;
	size_t len = 0;
	int64_t id = pp_store_new_id();

	assert_int_equal(pp_crypto_seal(f->c, "msg_draft", "content", id, "{\"body\":\"secret draft\"}",
	                                strlen("{\"body\":\"secret draft\"}"), &ct, &len), 0);
	assert_int_equal(pp_store_msg_draft_put(f->st, id, t->id, author, ct, len, pp_clock_now_ms()),
	                 0);
	free(ct);
}

static bool draft_exists(fx *f, const pp_store_msg_thread *t, int64_t author)
{
	int64_t id = 0, ms = 0;
	uint8_t *ct = NULL;
	size_t len = 0;
	int rc = pp_store_msg_draft_get(f->st, t->id, author, &id, &ct, &len, &ms);

	free(ct);
	assert_true(rc == 0 || rc == PP_ENOTFOUND);
	return rc == 0;
}

/* a draft is kept no longer than the messages: an old draft in a thread that lives on goes (one
 * audit record, no content), a newer draft stays, a held one stays */
static void test_old_drafts_purged(void **state)
{
	fx *f = *state;
	json_t *rep;
	char newer[33];

	put_draft(f, &f->ta, 11);            /* day 0: alice's old draft */
	put_draft(f, &f->tb, 11);            /* day 0: bob's (held) */
	pp_clock_set_offset_ms(1000 * DAY_MS);
	add_msg(f, &f->ta, "alice-later", newer, NULL);   /* the thread lives on */
	put_draft(f, &f->ta, 12);            /* day 1000: another author's draft */
	pp_clock_set_offset_ms(2600 * DAY_MS);
	rep = run(f, true, 0);
	assert_int_equal(count(rep, "purge", "draft"), 1);
	assert_int_equal(count(rep, "held", "draft"), 1);
	json_decref(rep);
	assert_true(draft_exists(f, &f->ta, 11));          /* a dry run changes nothing */
	rep = run(f, false, 0);
	assert_int_equal(count(rep, "purge", "draft"), 1);
	assert_int_equal(count(rep, "purge", "message"), 1);
	assert_int_equal(count(rep, "purge", "thread"), 0);
	assert_false(draft_exists(f, &f->ta, 11));
	assert_true(draft_exists(f, &f->ta, 12));
	assert_true(draft_exists(f, &f->tb, 11));
	assert_true(msg_exists(f, newer));
	assert_false(msg_exists(f, f->ma));
	{
		char id[48];
		snprintf(id, sizeof id, "%s/draft", f->ta.pub_id);
		assert_true(listed(rep, "purge", id));
	}
	/* message + draft + attachment: one record each, no content ("secret" never recorded) */
	assert_int_equal(audit_count(f, f->alice_pub, "retention.purge"), 3);
	verify_chain(f);
	json_decref(rep);
}

static void test_hold_input_refused(void **state)
{
	fx *f = *state;
	char id[33], big[PP_JOBS_REASON_MAX + 2];
	const char *why;

	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "account", f->bob_pub, "r", id,
	                                    &why), PP_EINVAL);
	assert_string_equal(why, "invalid_scope");
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", "../etc", "r", id, &why),
	                 PP_EINVAL);
	assert_string_equal(why, "invalid_target");
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", f->bob_pub, "  ", id,
	                                    &why), PP_EINVAL);
	assert_string_equal(why, "reason_required");
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", f->bob_pub, "a\001b",
	                                    id, &why), PP_EINVAL);
	assert_string_equal(why, "reason_required");
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", f->bob_pub, big, id,
	                                    &why), PP_EINVAL);
	assert_string_equal(why, "reason_too_long");
	/* unknown targets: a patient id given as a thread, and the other way round */
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "thread", f->bob_pub, "r", id,
	                                    &why), PP_ENOTFOUND);
	assert_string_equal(why, "not_found");
	assert_int_equal(pp_jobs_hold_place(&f->app, &f->officer, "patient", f->tb.pub_id, "r", id,
	                                    &why), PP_ENOTFOUND);
	assert_int_equal(pp_jobs_hold_release(&f->app, &f->officer, "ffff"), PP_ENOTFOUND);
	assert_int_equal(pp_jobs_hold_release(&f->app, &f->officer, NULL), PP_ENOTFOUND);
	/* still exactly the one hold from setup */
	{
		hold_find hf = {.scope = "patient"};
		assert_int_equal(pp_store_hold_each(f->st, true, find_hold, &hf), 0);
		assert_int_equal(hf.n, 1);
	}
}

static void test_audit_retention_baseline(void **state)
{
	fx *f = *state;
	pp_config c = f->cfg;
	pp_buf rep;
	json_t *r;

	pp_buf_init(&rep, 4096);
	assert_int_equal(pp_config_check_baseline(&c, &rep), 0);
	c.retention_audit_days = 2189;
	assert_int_equal(pp_config_check_baseline(&c, &rep), 1);
	assert_non_null(strstr(pp_buf_cstr(&rep), "retention.audit_days"));
	assert_non_null(strstr(pp_buf_cstr(&rep), "2190"));
	pp_buf_free(&rep);
	/* the defaults, and the dry run's count of audit records past their retention (none deleted) */
	assert_int_equal(f->cfg.retention_messages_days, 2555);
	assert_int_equal(f->cfg.retention_attachments_days, 2555);
	assert_int_equal(f->cfg.retention_documents_days, 3650);
	assert_int_equal(f->cfg.retention_audit_days, 2190);
	assert_int_equal(f->cfg.jobs_retention_interval_s, 86400);
	pp_clock_set_offset_ms(2191 * DAY_MS);
	r = run(f, true, 0);
	assert_true(json_integer_value(json_object_get(json_object_get(r, "audit"),
	                                               "older_than_retention")) >= 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "audit"), "purged")),
	                 0);
	json_decref(r);
}

static void test_scheduler(void **state)
{
	fx *f = *state;
	pp_jobs *j = NULL;

	f->cfg.jobs_retention_interval_s = 0;
	assert_int_equal(pp_jobs_start(&j, &f->app, f->files), 0);
	assert_null(j);                                  /* 0: no scheduled run */
	pp_jobs_stop(NULL);
	f->cfg.jobs_retention_interval_s = 1;
	pp_clock_set_offset_ms(2600 * DAY_MS);
	assert_int_equal(pp_jobs_start(&j, &f->app, f->files), 0);
	assert_non_null(j);
	for (int i = 0; i < 100 && pp_jobs_runs(j) < 1; i++)
		usleep(50000);
	assert_true(pp_jobs_runs(j) >= 1);
	assert_true(pp_jobs_runs(j) <= 2);             /* once a second, not in a loop */
	pp_jobs_stop(j);                                 /* returns promptly (self-pipe) */
	assert_false(msg_exists(f, f->ma));
	assert_true(msg_exists(f, f->mb));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_nothing_expires_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dry_run_lists_and_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_purges_expired_keeps_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_release_then_purged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thread_hold_covers_only_its_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_documents_shredded_with_docref, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_down_stops_the_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_drafts_purged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_input_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_retention_baseline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scheduler, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
