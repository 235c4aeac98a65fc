/* msg: one message as a FHIR R4 Communication. The pool is not a FHIR resource the server serves,
 * so it appears as a display-only reference; the patient and earlier messages are references to
 * the opaque ids the API serves. */
#include "msg/msg.h"

#include <string.h>

#define KIND_SYSTEM "https://phiportal.org/fhir/CodeSystem/message-kind"
#define CATEGORY_SYSTEM "http://terminology.hl7.org/CodeSystem/communication-category"

static json_t *ref(const char *type, const char *id)
{
	char buf[160];

	snprintf(buf, sizeof buf, "%s/%s", type, id);
	return json_pack("{s:s}", "reference", buf);
}

int pp_msg_communication(const pp_msg_view *v, json_t **out)
{
	char sent[32], recv[32], item[700];
	json_t *c = NULL, *patient, *pool, *payload;
	bool from_patient;

	if (out)
		*out = NULL;
	if (!v || !out || !v->id || !v->patient_id || !v->side || !v->kind || v->sent_ms <= 0)
		return PP_EINVAL;
	from_patient = !strcmp(v->side, "patient");
	pp_clock_format_iso(v->sent_ms, sent);
	patient = ref("Patient", v->patient_id);
	pool = json_pack("{s:s}", "display", v->pool_name && *v->pool_name ? v->pool_name : "Care team");
	c = json_pack("{s:s, s:s, s:s, s:[{s:[{s:s, s:s}]}, {s:[{s:s, s:s}], s:s}], s:O, s:s}",
	              "resourceType", "Communication", "id", v->id, "status", "completed",
	              "category", "coding", "system", CATEGORY_SYSTEM, "code", "notification",
	              "coding", "system", KIND_SYSTEM, "code", v->kind, "text", v->kind,
	              "subject", patient, "sent", sent);
	if (!c || !patient || !pool)
		goto fail;
	if (v->subject && *v->subject)
		json_object_set_new(c, "topic", json_pack("{s:s}", "text", v->subject));
	if (v->received_ms > 0) {
		pp_clock_format_iso(v->received_ms, recv);
		json_object_set_new(c, "received", json_string(recv));
	}
	json_object_set_new(c, "sender", json_deep_copy(from_patient ? patient : pool));
	json_object_set_new(c, "recipient", json_pack("[O]", from_patient ? pool : patient));
	if (v->in_reply_to && *v->in_reply_to)
		json_object_set_new(c, "inResponseTo", json_pack("[o]", ref("Communication",
		                                                            v->in_reply_to)));
	payload = json_array();
	pp_msg_item_text(v->kind, v->fields, item, sizeof item);
	if (item[0])
		json_array_append_new(payload, json_pack("{s:s}", "contentString", item));
	if (v->body && *v->body)
		json_array_append_new(payload, json_pack("{s:s}", "contentString", v->body));
	if (json_array_size(payload))
		json_object_set_new(c, "payload", payload);
	else
		json_decref(payload);
	json_decref(patient);
	json_decref(pool);
	*out = c;
	return PP_OK;
fail:
	json_decref(c);
	json_decref(patient);
	json_decref(pool);
	return PP_ENOMEM;
}
