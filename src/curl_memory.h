#ifndef ONLYOFFICE_CURL_MEMORY_H
#define ONLYOFFICE_CURL_MEMORY_H

#include <curl/curl.h>

/* curl_global_init with an allocator that wipes what libcurl frees (Linux). */
CURLcode oo_curl_init(void);

#endif
