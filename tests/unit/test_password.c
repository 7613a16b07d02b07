/*
 * test_password.c - password.c: argon2id PHC strings that verify, refuse the wrong
 * password, carry their cost, are salted, and hostile stored strings.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "password.h"

static const struct password_cost cost = {PASSWORD_MIN_MEMORY_KIB, PASSWORD_MIN_ITERATIONS, 1};

static void test_round_trip(void)
{
    char *a = NULL, *b = NULL, *empty = NULL;
    struct password_cost c;

    CHECK_EQ_INT(password_hash(&cost, "correct horse", 13, &a), ERR_OK);
    CHECK_EQ_INT(password_hash(&cost, "correct horse", 13, &b), ERR_OK);
    if (!a || !b)
        goto out;
    CHECK(strncmp(a, "$argon2id$v=19$m=19456,t=2,p=1$", 31) == 0);
    CHECK(strcmp(a, b) != 0); /* salted */
    CHECK_EQ_INT(password_verify(a, "correct horse", 13), ERR_OK);
    CHECK_EQ_INT(password_verify(b, "correct horse", 13), ERR_OK);
    CHECK_EQ_INT(password_verify(a, "correct hors", 12), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(password_verify(a, "correct horsf", 13), ERR_UNAUTHORIZED);
    CHECK_EQ_INT(password_verify(a, "", 0), ERR_UNAUTHORIZED);
    /* bytes after a NUL count: the length is the password's */
    CHECK_EQ_INT(password_verify(a, "correct horse\0x", 15), ERR_UNAUTHORIZED);
    CHECK(password_cost_of(a, &c));
    CHECK_EQ_INT(c.memory_kib, 19456);
    CHECK_EQ_INT(c.iterations, 2);
    CHECK_EQ_INT(c.lanes, 1);
    CHECK(!password_needs_rehash(a, &cost));
    {
        struct password_cost higher = {cost.memory_kib * 2, 3, 1};
        CHECK(password_needs_rehash(a, &higher));
    }
    CHECK_EQ_INT(password_hash(&cost, "", 0, &empty), ERR_OK);
    CHECK_EQ_INT(password_verify(empty, "", 0), ERR_OK);
    CHECK_EQ_INT(password_verify(empty, "x", 1), ERR_UNAUTHORIZED);
out:
    free(a);
    free(b);
    free(empty);
}

static void test_refused(void)
{
    const struct password_cost weak = {4096, 1, 1};
    char *h = (char *)"untouched";

    CHECK_EQ_INT(password_hash(&weak, "pw", 2, &h), ERR_INVALID);
    CHECK(h == NULL);
    /* stored strings we do not read */
    CHECK_EQ_INT(password_verify(NULL, "pw", 2), ERR_INVALID);
    CHECK_EQ_INT(password_verify("", "pw", 2), ERR_INVALID);
    CHECK_EQ_INT(password_verify("plaintext", "pw", 2), ERR_INVALID);
    CHECK_EQ_INT(password_verify("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "pw", 2),
                 ERR_INVALID);
    CHECK_EQ_INT(password_verify("$argon2id$v=19$m=19456,t=2,p=1", "pw", 2), ERR_INVALID);
    CHECK_EQ_INT(password_verify("$argon2id$v=19$m=19456,t=2,p=1$$", "pw", 2), ERR_INVALID);
    CHECK_EQ_INT(password_verify("$argon2id$v=19$m=-1,t=2,p=1$c2FsdHNhbHQ$aGFzaA", "pw", 2),
                 ERR_INVALID);
    /* a cost that would take the machine down is refused before any work */
    CHECK_EQ_INT(password_verify("$argon2id$v=19$m=4294967295,t=2,p=1$c2FsdHNhbHRzYWx0$"
                                 "aGFzaGhhc2hoYXNoaGFzaA",
                                 "pw", 2),
                 ERR_INVALID);
    CHECK_EQ_INT(password_verify("$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0$"
                                 "aGFzaGhhc2hoYXNoaGFzaA",
                                 "pw", 2),
                 ERR_INVALID);
    {
        struct password_cost c;
        CHECK(!password_cost_of("$argon2id$v=19$m=19456,t=2,p=1x$a$b", &c));
        CHECK(!password_cost_of("$argon2id$v=18$m=19456,t=2,p=1$a$b", &c));
        CHECK(password_needs_rehash("garbage", &cost));
    }
}

int main(void)
{
    test_round_trip();
    test_refused();
    return check_summary("password");
}
