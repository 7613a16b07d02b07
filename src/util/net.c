/*
 * net.c - the one place libcurl's global state is set up and torn down
 * (curl_global_init is not thread-safe on its own; a pthread_once makes it so).
 * Owns that process-wide state and nothing else.
 */
#include "util/net.h"

#include <pthread.h>

#include <curl/curl.h>

static pthread_once_t net_once = PTHREAD_ONCE_INIT;
static CURLcode net_init_result = CURLE_FAILED_INIT; /* written once, under net_once */

static void net_init_once(void)
{
    net_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

bool net_global_init(void)
{
    pthread_once(&net_once, net_init_once);
    return net_init_result == CURLE_OK;
}

void net_global_cleanup(void)
{
    if (net_init_result == CURLE_OK)
        curl_global_cleanup();
}
