/* libFuzzer target: what phiportal parses from the staff SSO provider itself — the discovery
 * document, the token endpoint's response and the claims of an ID token (after the signature,
 * which librhonabwy checks). The first byte picks which; the rest is the JSON text.
 * fuzz-modules: core store crypto auth */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "auth/sso.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pp_sso_endpoints ep;
	pp_sso_expect e = {.issuer = "https://idp.example.org", .client_id = "portal",
	                   .nonce = "n-0123456789", .match_claim = "email", .mfa_idp = true,
	                   .required_amr = "mfa otp hwk", .required_acr = "urn:mfa",
	                   .now_s = 1800000000};
	const char *why = NULL;
	char *text, *out = NULL;
	bool mfa;
	json_t *claims;

	if (size < 1 || size > 65536)
		return 0;
	if (!(text = malloc(size)))
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	switch (data[0] % 3) {
	case 0:
		pp_sso_discovery_parse(text, size - 1, "https://idp.example.org", &ep, &why);
		break;
	case 1:
		if (pp_sso_token_response_parse(text, size - 1, &out, &why) == 0 && !out)
			abort();
		break;
	default:
		if (pp_json_check_depth(text, size - 1, 16) == 0 &&
		    (claims = json_loadb(text, size - 1, JSON_REJECT_DUPLICATES, NULL))) {
			if (pp_sso_claims_check(&e, claims, &out, &mfa, &why) == 0 && (!out || !mfa))
				abort();   /* success always names the account and, here, MFA */
			json_decref(claims);
		}
		break;
	}
	free(out);
	free(text);
	return 0;
}
