/*
 * test_prompts.c - the prompt parser against a table of phrasings (tests/unit/prompts.tsv,
 * whose path meson passes as argv[1]): negation, degree, less/more, synonyms, word order,
 * punctuation, capitals, typos, unknown prompts, ignored words. Every row must pass; the
 * accuracy (rows right / rows) is printed.
 *
 * A row is three TAB-separated fields (the third optional); '#' starts a comment line:
 *   prompt <TAB> expected <TAB> ignored
 * expected: the canonical names of the steps in order, separated by ",", each optionally
 *   ":weak" or ":strong" (plain otherwise); "-" for no step at all.
 * ignored: "-" for exactly ""; "=text" for exactly text; otherwise space-separated words
 *   that must each be a word of ignored, or, written "!word", must not be.
 */
#include "imaging/editor.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LINE_MAX_LEN 4096

static const char *strength_name(enum edit_strength s)
{
    return s == EDIT_WEAK ? "weak" : s == EDIT_STRONG ? "strong" : "plain";
}

/* The plan written like a row's expected field. */
static void describe(const struct edit_plan *plan, char *out, size_t cap)
{
    size_t at = 0;

    out[0] = '\0';
    if (plan->n == 0)
        snprintf(out, cap, "-");
    for (size_t i = 0; i < plan->n && at < cap; i++) {
        const struct edit_step *s = &plan->steps[i];
        int w = snprintf(out + at, cap - at, "%s%s%s%s", i ? ", " : "", editor_kind_name(s->kind),
                         s->strength == EDIT_PLAIN ? "" : ":",
                         s->strength == EDIT_PLAIN ? "" : strength_name(s->strength));

        if (w < 0)
            break;
        at += (size_t)w;
    }
}

static char *trim(char *s)
{
    char *e;

    while (*s == ' ')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\r' || e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* Does the expected field match the plan? */
static bool steps_match(char *expected, const struct edit_plan *plan)
{
    size_t i = 0;
    char *save = NULL;

    expected = trim(expected);
    if (strcmp(expected, "-") == 0 || expected[0] == '\0')
        return plan->n == 0;
    for (char *item = strtok_r(expected, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon;
        enum edit_strength want = EDIT_PLAIN;

        item = trim(item);
        colon = strchr(item, ':');
        if (colon) {
            *colon = '\0';
            want = strcmp(colon + 1, "weak") == 0 ? EDIT_WEAK : EDIT_STRONG;
            if (strcmp(colon + 1, "weak") != 0 && strcmp(colon + 1, "strong") != 0)
                return false;
        }
        if (i >= plan->n || strcmp(editor_kind_name(plan->steps[i].kind), item) != 0 ||
            plan->steps[i].strength != want)
            return false;
        i++;
    }
    return i == plan->n;
}

static bool has_word(const char *text, const char *w)
{
    size_t n = strlen(w);

    for (const char *p = text; (p = strstr(p, w)) != NULL; p++) {
        bool start = p == text || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ' ';

        if (start && end)
            return true;
    }
    return false;
}

static bool ignored_match(char *spec, const char *ignored)
{
    char *save = NULL;

    spec = trim(spec);
    if (strcmp(spec, "-") == 0)
        return ignored[0] == '\0';
    if (spec[0] == '=')
        return strcmp(spec + 1, ignored) == 0;
    for (char *w = strtok_r(spec, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (w[0] == '!' ? has_word(ignored, w + 1) : !has_word(ignored, w))
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    char line[LINE_MAX_LEN], copy[LINE_MAX_LEN], got[1024];
    int rows = 0, right = 0, lineno = 0;
    FILE *f;

    if (argc < 2) {
        fprintf(stderr, "usage: %s prompts.tsv\n", argv[0]);
        return 2;
    }
    f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    while (fgets(line, sizeof(line), f)) {
        char *prompt, *expected, *ignored_spec, *tab;
        struct edit_plan plan;
        bool ok;

        lineno++;
        if (line[0] == '#' || trim(line)[0] == '\0')
            continue;
        memcpy(copy, line, sizeof(copy));
        prompt = copy;
        tab = strchr(prompt, '\t');
        if (!tab) {
            fprintf(stderr, "%s:%d: no expected field\n", argv[1], lineno);
            check_count++;
            check_failures++;
            continue;
        }
        *tab = '\0';
        expected = tab + 1;
        ignored_spec = NULL;
        tab = strchr(expected, '\t');
        if (tab) {
            *tab = '\0';
            ignored_spec = tab + 1;
        }
        rows++;
        if (editor_plan(prompt, &plan) != ERR_OK) {
            fprintf(stderr, "%s:%d: editor_plan failed on \"%s\"\n", argv[1], lineno, prompt);
            check_count++;
            check_failures++;
            continue;
        }
        describe(&plan, got, sizeof(got));
        char exp_copy[LINE_MAX_LEN];

        snprintf(exp_copy, sizeof(exp_copy), "%s", expected);
        ok = steps_match(exp_copy, &plan);
        if (ok && ignored_spec) {
            snprintf(exp_copy, sizeof(exp_copy), "%s", ignored_spec);
            ok = ignored_match(exp_copy, plan.ignored ? plan.ignored : "");
        }
        check_count++;
        if (ok) {
            right++;
        } else {
            check_failures++;
            fprintf(stderr, "%s:%d: \"%s\": got [%s] ignored \"%s\"; expected [%s]%s%s\n", argv[1],
                    lineno, prompt, got, plan.ignored ? plan.ignored : "(null)", trim(expected),
                    ignored_spec ? " ignored " : "", ignored_spec ? trim(ignored_spec) : "");
        }
        edit_plan_free(&plan);
    }
    fclose(f);
    printf("prompts: %d/%d rows right (%.1f%%)\n", right, rows, rows ? 100.0 * right / rows : 0.0);
    if (rows < 150) {
        fprintf(stderr, "%s: only %d rows (want at least 150)\n", argv[1], rows);
        check_failures++;
    }
    return check_summary("prompts");
}
