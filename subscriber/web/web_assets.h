// SPDX-License-Identifier: MPL-2.0
/*  web_assets: the web view's files, compiled in (web_assets.c is generated
    at build time by embed.cmake from the files of this folder).
*/
#ifndef TW_WEB_ASSETS_H
#define TW_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;          // the URL path, "/index.html"
    const char *content_type;  // by the file's extension
    const unsigned char *data;
    size_t size;
} web_asset;

extern const web_asset web_assets[];
extern const size_t web_assets_count;

#endif
