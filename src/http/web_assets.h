/* The static web UI, embedded at build time by scripts/embed_web.py (table ends with a NULL path). */
#ifndef PP_WEB_ASSETS_H
#define PP_WEB_ASSETS_H
#include <stddef.h>
typedef struct pp_web_asset {
	const char *path;          /* "/index.html" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
} pp_web_asset;
extern const pp_web_asset pp_web_assets[];
#endif
