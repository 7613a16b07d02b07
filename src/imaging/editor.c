/*
 * editor.c - picks the editor backend the configuration names.
 */
#include <string.h>

#include "config.h"
#include "imaging/editor.h"
#include "util/log.h"

enum err editor_open(const struct config *cfg, struct httpc *http, struct pool *cpu,
                     struct editor **out)
{
    bool gemini = strcmp(cfg->editor, "gemini") == 0 ||
                  (strcmp(cfg->editor, "auto") == 0 && cfg->gemini_api_key &&
                   *cfg->gemini_api_key);

    if (gemini)
        return editor_gemini_open(cfg, http, cpu, out);
    log_info("editor: local (docs/editor.md lists what it understands)");
    return editor_local_open(out);
}
