/*
 * fuzz_tokens.c - the opaque tokens a client hands back: share-link tokens (the
 * /s/{token} path, shares_token_valid, then the hash the database looks up), refresh
 * tokens (id_token_is_wellformed) and the UUIDs of paths and fields (id_uuid_parse).
 */
#include "db/db.h"
#include "fuzz.h"
#include "shares.h"
#include "util/id.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    unsigned char hash[DB_SHARE_HASH_LEN];
    char uuid[ID_UUID_LEN];

    if (!s)
        return 0;
    if (shares_token_valid(s)) {
        if (strlen(s) != SHARES_TOKEN_LEN)
            abort();
        shares_token_hash(s, hash);
    }
    if (id_token_is_wellformed(s) && strlen(s) != ID_TOKEN_LEN - 1)
        abort();
    if (id_uuid_parse(s, strlen(s), uuid) && !id_uuid_is_canonical(uuid))
        abort(); /* what a parse gives is canonical */
    id_uuid_is_canonical(s);
    free(s);
    return 0;
}
