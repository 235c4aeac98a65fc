/* msg: the structured part of a message as clients send it — kinds, their fields, preferred
 * appointment times — checked without touching the store, so that the fuzzer can drive it; and the
 * small text helpers search uses. Ownership of the linked MedicationRequest or Observation is
 * checked later by the handler, against the store. */
#include "msg/msg.h"

#include <string.h>

static const char *const kinds[] = {"text", "refill", "appointment", "result_question"};

bool pp_msg_kind_valid(const char *kind)
{
	for (size_t i = 0; kind && i < sizeof kinds / sizeof kinds[0]; i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

bool pp_msg_id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;

	return n > 0 && n <= 64 && strspn(id, "0123456789abcdef") == n;
}

static int digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

int pp_msg_time_parse(const char *text, size_t len, char out[17])
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, mo, d, h, mi, sec = 0, dim;

	if (!text || !out || (len != 16 && len != 19))
		return PP_EINVAL;
	if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':')
		return PP_EINVAL;
	if (digits(text, 4, &y) || digits(text + 5, 2, &mo) || digits(text + 8, 2, &d) ||
	    digits(text + 11, 2, &h) || digits(text + 14, 2, &mi))
		return PP_EINVAL;
	if (len == 19 && (text[16] != ':' || digits(text + 17, 2, &sec)))
		return PP_EINVAL;
	if (y < 1900 || y > 2999 || mo < 1 || mo > 12 || h > 23 || mi > 59 || sec > 59)
		return PP_EINVAL;
	dim = mdays[mo - 1];
	if (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		dim = 29;
	if (d < 1 || d > dim)
		return PP_EINVAL;
	memcpy(out, text, 16);
	out[16] = '\0';
	return PP_OK;
}

/* only the keys named in allowed[] may appear */
static bool only_keys(const json_t *obj, const char *const *allowed, size_t n)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)obj, key, v) {
		bool ok = false;
		(void)v;
		for (size_t i = 0; i < n && !ok; i++)
			ok = !strcmp(key, allowed[i]);
		if (!ok)
			return false;
	}
	return true;
}

static const char *id_field(const json_t *fields, const char *key)
{
	const json_t *v = json_object_get(fields, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;

	return s && pp_msg_id_valid(s) ? s : NULL;
}

int pp_msg_fields_check(const char *kind, const json_t *fields, json_t **out, const char **why)
{
	static const char *const k_refill[] = {"medication_request_id"};
	static const char *const k_appt[] = {"reason", "preferred_times"};
	static const char *const k_result[] = {"observation_id"};
	json_t *o = NULL;
	const char *reason = "invalid_fields";

	if (out)
		*out = NULL;
	if (!out || !why)
		return PP_EINVAL;
	*why = NULL;
	if (!pp_msg_kind_valid(kind)) {
		*why = "invalid_kind";
		return PP_EINVAL;
	}
	if (fields && !json_is_object(fields) && !json_is_null(fields))
		goto bad;
	if (json_is_null(fields))
		fields = NULL;
	if (!(o = json_object()))
		return PP_ENOMEM;
	if (!strcmp(kind, "text")) {
		if (fields && json_object_size(fields))
			goto bad;
	} else if (!strcmp(kind, "refill")) {
		const char *id = id_field(fields, "medication_request_id");
		if (!fields || !only_keys(fields, k_refill, 1))
			goto bad;
		reason = "invalid_medication_request_id";
		if (!id || json_object_set_new(o, "medication_request_id", json_string(id)))
			goto bad;
	} else if (!strcmp(kind, "result_question")) {
		const char *id = id_field(fields, "observation_id");
		if (!fields || !only_keys(fields, k_result, 1))
			goto bad;
		reason = "invalid_observation_id";
		if (!id || json_object_set_new(o, "observation_id", json_string(id)))
			goto bad;
	} else {   /* appointment */
		const json_t *rv = json_object_get(fields, "reason");
		const json_t *tv = json_object_get(fields, "preferred_times");
		const char *rs = json_is_string(rv) ? json_string_value(rv) : NULL;
		json_t *times;
		size_t i;
		const json_t *t;

		if (!fields || !only_keys(fields, k_appt, 2))
			goto bad;
		reason = "invalid_reason";
		if (!rs || !*rs || json_string_length(rv) > PP_MSG_REASON_MAX ||
		    strlen(rs) != json_string_length(rv) ||
		    json_object_set_new(o, "reason", json_string(rs)))
			goto bad;
		reason = "invalid_preferred_times";
		if (!json_is_array(tv) || json_array_size(tv) < 1 ||
		    json_array_size(tv) > PP_MSG_TIMES_MAX)
			goto bad;
		if (!(times = json_array()) || json_object_set_new(o, "preferred_times", times))
			goto bad;
		json_array_foreach(tv, i, t) {
			char norm[17];
			if (!json_is_string(t) ||
			    pp_msg_time_parse(json_string_value(t), json_string_length(t), norm) ||
			    json_array_append_new(times, json_string(norm)))
				goto bad;
		}
	}
	*out = o;
	return PP_OK;
bad:
	json_decref(o);
	*why = reason;
	return PP_EINVAL;
}

static char fold(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

bool pp_msg_text_contains(const char *hay, const char *needle)
{
	size_t n = needle ? strlen(needle) : 0;

	if (!hay || n == 0)
		return false;
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && fold(hay[i]) == fold(needle[i]))
			i++;
		if (i == n)
			return true;
	}
	return false;
}

static const char *fstr(const json_t *fields, const char *key)
{
	const json_t *v = json_object_get(fields, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

void pp_msg_item_text(const char *kind, const json_t *fields, char *out, size_t cap)
{
	if (!out || cap == 0)
		return;
	out[0] = '\0';
	if (!kind)
		return;
	if (!strcmp(kind, "refill")) {
		const char *m = fstr(fields, "medication");
		snprintf(out, cap, "Refill request: %s", m ? m : "medication");
	} else if (!strcmp(kind, "appointment")) {
		const json_t *t = json_object_get(fields, "preferred_times");
		const char *r = fstr(fields, "reason");
		size_t len;
		snprintf(out, cap, "Appointment request: %s; preferred times:", r ? r : "");
		for (size_t i = 0; json_is_array(t) && i < json_array_size(t); i++) {
			const char *s = json_string_value(json_array_get(t, i));
			len = strlen(out);
			if (s && len < cap)
				snprintf(out + len, cap - len, "%s %s", i ? "," : "", s);
		}
	} else if (!strcmp(kind, "result_question")) {
		const json_t *res = json_object_get(fields, "result");
		const char *text = fstr(res, "text"), *value = fstr(res, "value");
		const char *unit = fstr(res, "unit"), *date = fstr(res, "date");
		snprintf(out, cap, "Question about a result: %s%s%s%s%s%s%s", text ? text : "result",
		         value ? " " : "", value ? value : "", unit ? " " : "", unit ? unit : "",
		         date ? " on " : "", date ? date : "");
	}
}
