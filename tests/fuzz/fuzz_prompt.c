/*
 * fuzz_prompt.c - the local editor's prompt parser (imaging/editor_vocab.c): a typed
 * or transcribed prompt, any bytes, through editor_parse and editor_plan.
 */
#include "fuzz.h"
#include "imaging/editor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum edit_kind kinds[EDIT_KIND_COUNT];
    struct edit_plan plan = {0};
    char *prompt = fuzz_strndup(data, size);
    size_t n;

    if (!prompt)
        return 0;
    n = editor_parse(prompt, kinds, EDIT_KIND_COUNT);
    if (n > EDIT_KIND_COUNT)
        abort();
    if (editor_plan(prompt, &plan) == ERR_OK && (plan.n > EDIT_KIND_COUNT || !plan.ignored))
        abort();
    edit_plan_free(&plan);
    free(prompt);
    return 0;
}
