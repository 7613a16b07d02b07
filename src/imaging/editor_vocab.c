/*
 * editor_vocab.c - the local editor's vocabulary (one table: edit, name, phrases) and
 * the prompt parser that reads it (SPEC §8, §16). No libvips here: this is pure text work.
 *
 * How a prompt is read (docs/editor.md, "How prompts are read", says the same for users;
 * tests/unit/prompts.tsv holds the examples that pin each rule):
 *
 *  1. Words. The prompt is lowercased and split into words: runs of ASCII letters and
 *     digits. An apostrophe inside a word is dropped ("don't" is "dont"); "&" is "and".
 *     A punctuation mark , . ; : ! ? ( ) or a line break ends a clause.
 *  2. Typos. A word of 6 or more letters that is neither a vocabulary word nor one of the
 *     parser's own words (filler, degree, negation, less, clause words, and a short list
 *     of everyday words one letter away from a vocabulary word, like "insert", "showing")
 *     reads as the first vocabulary word of 6 or more letters, with the same first letter,
 *     that it is one letter away from: one letter substituted, inserted, deleted, or two
 *     neighbours swapped ("colorfull", "grayscal", "sharpne", "watercolr").
 *  3. Phrases. Every phrase of the table, then of editor_text_phrases[] (typed prompts'
 *     extra synonyms, kept out of the speech grammar), is looked for on word boundaries,
 *     longest phrase
 *     first at each word, each word used by at most one phrase, never across a punctuation
 *     break. "rotate"/"turn"/"spin"/"flip"/"mirror" may stand up to GAP_MAX words before the
 *     rest of their phrase ("rotate it to the left"), but not across a clause word.
 *  4. "less X". A less-word ("less", "reduce", "lower", "decrease", "tone down", "too")
 *     followed, past filler and degree words only, by the first word of a phrase turns
 *     that edit into its opposite where the vocabulary has one (colorful <-> less
 *     colorful, brighter <-> darker, blur <-> sharpen, more <-> less contrast,
 *     warm <-> cool); where it has none, the phrase is dropped and its words and the
 *     less-word are reported as ignored. "more" and "increase"-like words are filler.
 *     A less-word followed by "color(s)" ("reduce the colors") means less colorful.
 *  5. Negation. A negation word ("not", "no", "dont", "never", "without", "nothing",
 *     "stop", "remove", "instead of", ...) negates every phrase that starts after it in
 *     its clause. The clause ends at a punctuation break or a clause word ("and", "but",
 *     "then", "also", "plus", "instead", ...); once it has negated an edit it also ends at
 *     a word that starts a new request ("make", "add", "turn", "just", ...), so "don't make
 *     it dark" negates dark and "no blur make it sepia" keeps sepia. "or"/"nor" continue
 *     it. An edit negated anywhere is not applied at all (its opposite is not applied in
 *     its place either). Special case: a negation that takes away ("no", "without",
 *     "remove", "drain", ...) followed past filler by "color(s)"/"colour(s)" ("no color",
 *     "remove all the colour") means black and white.
 *  6. Degree. A degree word ("slightly", "a bit", "a little", "a tad", "somewhat", "a
 *     touch", ... weak; "very", "much", "really", "super", "extremely", "way", "a lot",
 *     "lots", ... strong) sets the strength of the next phrase if only filler, degree and
 *     less-words stand between them in the clause, otherwise of the phrase just before it
 *     ("blur it a lot"). The nearest degree word wins. "high contrast" is strong.
 *  7. The plan. Edits in the order of their first word; an edit named twice is applied
 *     once, at its first place, with the first degree given. ignored: every word that no
 *     applied edit used, in prompt order, except filler words ("make", "it", "the",
 *     "please", "more", "and", ...) and degree words, which carry no meaning alone.
 *     Negation words and negated phrases are ignored words: "not blurry".
 *
 * Cost: O(words x phrases) time, O(prompt length) memory, whatever the input.
 * Owns nothing beyond scratch arrays inside one call (and the plan's ignored string, which
 * the caller owns). Thread-safe: the tables are read-only and the parser keeps no state.
 */
#include "editor.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Words that may stand a few words apart from the rest of their phrase: "rotate it to
 * the left" reads as "rotate left". At most GAP_MAX words may sit in between, and the
 * gap never crosses a word that starts a new clause. */
#define GAP_MAX 6

/* Typo correction only for words this long (and only towards vocabulary words this long). */
#define TYPO_MIN_LEN 6

const struct editor_word editor_vocabulary[] = {
    [EDIT_COLORFUL] = {EDIT_COLORFUL,
                       "colorful",
                       "stronger, more saturated colours",
                       {"colorful", "colourful", "vibrant", "vivid", "saturated", "saturate",
                        "saturation", "more saturation", "more color", "more colour", "more colors",
                        "more colours", "bright colors", "bright colours", NULL}},
    [EDIT_GRAYSCALE] = {EDIT_GRAYSCALE,
                        "black and white",
                        "greyscale (every pixel R = G = B)",
                        {"black and white", "grayscale", "greyscale", "gray scale", "grey scale",
                         "monochrome", "b and w", "desaturate", "gray", "grey", "colorless",
                         "colourless", "no color", "no colour", "remove the color",
                         "remove the colour", NULL}},
    [EDIT_SEPIA] = {EDIT_SEPIA,
                    "sepia",
                    "brown-toned old photograph",
                    {"sepia", "sepia tone", NULL}},
    [EDIT_INVERT] = {EDIT_INVERT,
                     "invert",
                     "photographic negative of the colours",
                     {"invert", "inverted", "inverse", "negative", "invert the colors",
                      "invert the colours", NULL}},
    [EDIT_BLUR] = {EDIT_BLUR,
                   "blur",
                   "gaussian blur, scaled to the image size",
                   {"blur", "blurry", "blurred", "blurrier", "soft", "softer", "soften",
                    "out of focus", NULL}},
    [EDIT_SHARPEN] = {EDIT_SHARPEN,
                      "sharpen",
                      "crisper edges (unsharp mask on lightness)",
                      {"sharpen", "sharper", "sharp", "crisp", "crisper", "more detail", "in focus",
                       NULL}},
    [EDIT_BRIGHTER] = {EDIT_BRIGHTER,
                       "brighter",
                       "lighter overall",
                       {"brighter", "brighten", "bright", "lighter", "lighten", "more light",
                        "less dark", NULL}},
    [EDIT_DARKER] = {EDIT_DARKER,
                     "darker",
                     "darker overall",
                     {"darker", "darken", "dark", "dimmer", "dim", "less bright", "moody", NULL}},
    [EDIT_CONTRAST] = {EDIT_CONTRAST,
                       "more contrast",
                       "stretches tones away from mid-grey",
                       {"more contrast", "contrast", "higher contrast", "high contrast",
                        "contrasty", "punchy", "punchier", NULL}},
    [EDIT_WARM] = {EDIT_WARM,
                   "warm",
                   "shifts colours towards red and yellow",
                   {"warm", "warmer", "warmth", "cozy", "cosy", NULL}},
    [EDIT_COOL] = {EDIT_COOL,
                   "cool",
                   "shifts colours towards blue",
                   {"cool", "cooler", "cold", "colder", "icy", "wintry", NULL}},
    [EDIT_ROTATE_LEFT] = {EDIT_ROTATE_LEFT,
                          "rotate left",
                          "a quarter turn counter-clockwise",
                          {"rotate left", "turn left", "spin left", "rotate counterclockwise",
                           "rotate anticlockwise", "rotate counter clockwise",
                           "rotate anti clockwise", "counterclockwise", "anticlockwise",
                           "counter clockwise", "anti clockwise", NULL}},
    [EDIT_ROTATE_RIGHT] = {EDIT_ROTATE_RIGHT,
                           "rotate right",
                           "a quarter turn clockwise",
                           {"rotate right", "turn right", "spin right", "rotate clockwise",
                            "clockwise", "rotate", "rotated", NULL}},
    [EDIT_UPSIDE_DOWN] = {EDIT_UPSIDE_DOWN,
                          "upside down",
                          "a half turn",
                          {"upside down", "rotate 180", "turn 180", "flip upside down",
                           "turn upside down", "turn around", NULL}},
    [EDIT_FLIP] = {EDIT_FLIP,
                   "flip",
                   "mirror left to right",
                   {"flip", "flipped", "mirror", "mirrored", "flip horizontally", "mirror image",
                    "horizontal flip", NULL}},
    [EDIT_FLIP_VERTICAL] = {EDIT_FLIP_VERTICAL,
                            "flip vertically",
                            "mirror top to bottom",
                            {"flip vertically", "flip vertical", "vertical flip",
                             "mirror vertically", NULL}},
    [EDIT_PIXELATE] = {EDIT_PIXELATE,
                       "pixelate",
                       "large square pixels",
                       {"pixelate", "pixelated", "pixelize", "pixelise", "pixel art", "8 bit",
                        "blocky", "mosaic", NULL}},
    [EDIT_POSTERIZE] = {EDIT_POSTERIZE,
                        "posterize",
                        "few flat colour levels, like a poster",
                        {"posterize", "posterise", "posterized", "pop art", "flat colors",
                         "flat colours", NULL}},
    [EDIT_SKETCH] = {EDIT_SKETCH,
                     "sketch",
                     "dark outlines on white, like a pencil drawing",
                     {"sketch", "pencil", "pencil drawing", "pencil sketch", "outline", "outlines",
                      "line art", "line drawing", "charcoal", NULL}},
    [EDIT_EMBOSS] = {EDIT_EMBOSS,
                     "emboss",
                     "grey relief, as if pressed into metal",
                     {"emboss", "embossed", "relief", "engraved", "stamped", NULL}},
    [EDIT_GLOW] = {EDIT_GLOW,
                   "glow",
                   "soft bright halo blended over the image",
                   {"glow", "glowing", "magical", "magic", "ethereal", "fairy", "fantasy",
                    "sparkle", "sparkly", "shine", "shiny", NULL}},
    [EDIT_WATERCOLOR] = {EDIT_WATERCOLOR,
                         "watercolor",
                         "smoothed, lightened patches of colour, like paint on paper",
                         {"watercolor", "watercolour", "water color", "water colour",
                          "watercolor painting", "watercolour painting", NULL}},
    [EDIT_NEON] = {EDIT_NEON,
                   "neon",
                   "bright coloured edges on black",
                   {"neon", "cyberpunk", "synthwave", "glowing edges", "neon lights", "electric",
                    NULL}},
    [EDIT_PASTEL] = {EDIT_PASTEL,
                     "pastel",
                     "soft, light, less saturated colours",
                     {"pastel", "pastels", "soft colors", "soft colours", "faded", "washed out",
                      "muted", NULL}},
    [EDIT_NIGHT] = {EDIT_NIGHT,
                    "night",
                    "dark blue night-time look",
                    {"night", "nighttime", "night time", "at night", "midnight", "moonlight",
                     "moonlit", NULL}},
    [EDIT_SUNSET] = {EDIT_SUNSET,
                     "sunset",
                     "golden-orange evening light",
                     {"sunset", "sunrise", "golden hour", "dusk", "evening", "sundown", NULL}},
    [EDIT_DESATURATE] = {EDIT_DESATURATE,
                         "less colorful",
                         "weaker, less saturated colours",
                         {"less colorful", "less colourful", "less saturated", NULL}},
    [EDIT_LESS_CONTRAST] = {EDIT_LESS_CONTRAST,
                            "less contrast",
                            "tones drawn towards mid-grey",
                            {"less contrast", "lower contrast", "low contrast", NULL}},
    [EDIT_VINTAGE] = {EDIT_VINTAGE,
                      "vintage",
                      "an old, faded, brown-toned photograph with dark corners",
                      {"vintage", "old photo", "old photograph", "antique", "old fashioned",
                       "retro", "look old", NULL}},
    [EDIT_PAINTING] = {EDIT_PAINTING,
                       "painting",
                       "brush-stroke smoothing, like an oil painting",
                       {"painting", "painted", "oil painting", NULL}},
    [EDIT_VIGNETTE] = {EDIT_VIGNETTE,
                       "vignette",
                       "corners darkened towards the edges",
                       {"vignette", NULL}},
    [EDIT_FRAME] = {EDIT_FRAME,
                    "frame",
                    "a border around the picture",
                    {"frame", "framed", "border", NULL}},
    [EDIT_SNOW] = {EDIT_SNOW,
                   "snow",
                   "falling snowflakes over the picture",
                   {"snow", "snowy", "snowing", "snowflakes", NULL}},
    [EDIT_DREAMY] = {EDIT_DREAMY,
                     "dreamy",
                     "soft focus, light and glowing",
                     {"dreamy", "dreamlike", NULL}},
    [EDIT_POP] = {EDIT_POP, "pop", "more colour and contrast at once", {"pop", NULL}},
    [EDIT_CARTOON] = {EDIT_CARTOON,
                      "cartoon",
                      "flat colour areas with bold dark outlines",
                      {"cartoon", "cartoonish", "comic", "comic book", NULL}},
    [EDIT_CROP] = {EDIT_CROP,
                   "crop",
                   "cut away the empty margins around the drawing",
                   {"crop", "cropped", "trim", NULL}},
};

const size_t editor_vocabulary_len = sizeof(editor_vocabulary) / sizeof(editor_vocabulary[0]);

/* More phrases for typed prompts: word forms and synonyms kept out of the speech grammar
 * (more alternatives there mean more confusions between them), read exactly like the
 * table's phrases. */
const struct editor_phrase editor_text_phrases[] = {
    {EDIT_COLORFUL, "colorize"},
    {EDIT_COLORFUL, "colourize"},
    {EDIT_COLORFUL, "colorise"},
    {EDIT_COLORFUL, "colourise"},
    {EDIT_COLORFUL, "add color"},
    {EDIT_COLORFUL, "add colour"},
    {EDIT_COLORFUL, "rainbow"},
    {EDIT_GRAYSCALE, "no colors"},
    {EDIT_GRAYSCALE, "without color"},
    {EDIT_GRAYSCALE, "noir"},
    {EDIT_SEPIA, "sepia toned"},
    {EDIT_INVERT, "invert colors"},
    {EDIT_INVERT, "invert colours"},
    {EDIT_BLUR, "blurring"},
    {EDIT_BLUR, "blurriness"},
    {EDIT_BLUR, "unfocused"},
    {EDIT_BLUR, "fuzzy"},
    {EDIT_BLUR, "fuzzier"},
    {EDIT_BLUR, "hazy"},
    {EDIT_BLUR, "smudged"},
    {EDIT_SHARPEN, "sharpened"},
    {EDIT_SHARPEN, "sharpness"},
    {EDIT_SHARPEN, "more details"},
    {EDIT_SHARPEN, "clearer"},
    {EDIT_SHARPEN, "clarity"},
    {EDIT_BRIGHTER, "brightened"},
    {EDIT_BRIGHTER, "brightness"},
    {EDIT_BRIGHTER, "lightened"},
    {EDIT_DARKER, "darkened"},
    {EDIT_DARKER, "darkness"},
    {EDIT_DARKER, "dimmed"},
    {EDIT_DARKER, "gloomy"},
    {EDIT_WARM, "warmed"},
    {EDIT_WARM, "cozier"},
    {EDIT_WARM, "cosier"},
    {EDIT_WARM, "hotter"},
    {EDIT_WARM, "toasty"},
    {EDIT_COOL, "cooled"},
    {EDIT_COOL, "chilly"},
    {EDIT_COOL, "frosty"},
    {EDIT_COOL, "bluer"},
    {EDIT_COOL, "bluish"},
    {EDIT_FLIP, "flip horizontal"},
    {EDIT_PIXELATE, "pixelation"},
    {EDIT_POSTERIZE, "posterised"},
    {EDIT_POSTERIZE, "poster"},
    {EDIT_SKETCH, "sketched"},
    {EDIT_SKETCH, "graphite"},
    {EDIT_SKETCH, "hand drawn"},
    {EDIT_EMBOSS, "embossing"},
    {EDIT_EMBOSS, "carved"},
    {EDIT_GLOW, "glowy"},
    {EDIT_GLOW, "enchanted"},
    {EDIT_GLOW, "sparkling"},
    {EDIT_GLOW, "glitter"},
    {EDIT_GLOW, "radiant"},
    {EDIT_WATERCOLOR, "watercolors"},
    {EDIT_WATERCOLOR, "watercolours"},
    {EDIT_WATERCOLOR, "aquarelle"},
    {EDIT_PASTEL, "softer colors"},
    {EDIT_PASTEL, "softer colours"},
    {EDIT_NIGHT, "starry"},
    {EDIT_SUNSET, "golden"},
    {EDIT_SUNSET, "twilight"},
    {EDIT_DESATURATE, "less saturation"},
    {EDIT_DESATURATE, "less vivid"},
    {EDIT_DESATURATE, "less color"},
    {EDIT_DESATURATE, "less colour"},
    {EDIT_DESATURATE, "desaturated"},
    {EDIT_DESATURATE, "dull"},
    {EDIT_DESATURATE, "duller"},
    {EDIT_LESS_CONTRAST, "reduced contrast"},
    {EDIT_LESS_CONTRAST, "softer contrast"},
    {EDIT_LESS_CONTRAST, "flatter"},
    {EDIT_VINTAGE, "old picture"},
    {EDIT_VINTAGE, "looks old"},
    {EDIT_VINTAGE, "older"},
    {EDIT_VINTAGE, "aged"},
    {EDIT_VINTAGE, "old timey"},
    {EDIT_VINTAGE, "old school"},
    {EDIT_VINTAGE, "old style"},
    {EDIT_VINTAGE, "nostalgic"},
    {EDIT_VINTAGE, "polaroid"},
    {EDIT_PAINTING, "painterly"},
    {EDIT_PAINTING, "oil paint"},
    {EDIT_PAINTING, "acrylic"},
    {EDIT_PAINTING, "impressionist"},
    {EDIT_PAINTING, "brush strokes"},
    {EDIT_PAINTING, "brushstrokes"},
    {EDIT_PAINTING, "canvas"},
    {EDIT_VIGNETTE, "vignetting"},
    {EDIT_VIGNETTE, "vignetted"},
    {EDIT_VIGNETTE, "dark corners"},
    {EDIT_VIGNETTE, "darker corners"},
    {EDIT_VIGNETTE, "darkened corners"},
    {EDIT_VIGNETTE, "dark edges"},
    {EDIT_FRAME, "framing"},
    {EDIT_FRAME, "picture frame"},
    {EDIT_FRAME, "borders"},
    {EDIT_FRAME, "bordered"},
    {EDIT_SNOW, "snowfall"},
    {EDIT_SNOW, "snowflake"},
    {EDIT_SNOW, "snowstorm"},
    {EDIT_SNOW, "blizzard"},
    {EDIT_SNOW, "winter"},
    {EDIT_DREAMY, "dreamier"},
    {EDIT_DREAMY, "dream"},
    {EDIT_DREAMY, "soft focus"},
    {EDIT_DREAMY, "surreal"},
    {EDIT_DREAMY, "heavenly"},
    {EDIT_POP, "make it pop"},
    {EDIT_POP, "pops"},
    {EDIT_POP, "pop out"},
    {EDIT_POP, "stand out"},
    {EDIT_POP, "eye catching"},
    {EDIT_CARTOON, "cartoons"},
    {EDIT_CARTOON, "cartoony"},
    {EDIT_CARTOON, "cartoon style"},
    {EDIT_CARTOON, "comics"},
    {EDIT_CARTOON, "anime"},
    {EDIT_CARTOON, "manga"},
    {EDIT_CARTOON, "animated"},
    {EDIT_CARTOON, "toon"},
    {EDIT_CROP, "crop it"},
    {EDIT_CROP, "cropping"},
    {EDIT_CROP, "trimmed"},
    {EDIT_CROP, "trim the edges"},
    {EDIT_CROP, "remove the margins"},
};

const size_t editor_text_phrases_len = sizeof(editor_text_phrases) / sizeof(editor_text_phrases[0]);

const char editor_refusal[] =
    "Could not understand the prompt. Try: colorful, black and white, sepia, invert, blur, "
    "sharpen, brighter, darker, more contrast, warm, cool, rotate left, rotate right, upside "
    "down, flip, flip vertically, pixelate, posterize, sketch, emboss, glow, watercolor, neon, "
    "pastel, night, sunset, less colorful, less contrast, vintage, painting, vignette, frame, "
    "snow, dreamy, pop, cartoon, crop.";

const char *editor_kind_name(enum edit_kind k)
{
    if ((int)k < 0 || (size_t)k >= editor_vocabulary_len)
        return NULL;
    return editor_vocabulary[k].name;
}

/* What "less X" makes of X (step 4 of the header); -1 when X has no opposite. */
static int opposite(enum edit_kind k)
{
    switch (k) {
    case EDIT_COLORFUL:
        return EDIT_DESATURATE;
    case EDIT_DESATURATE:
        return EDIT_COLORFUL;
    case EDIT_BRIGHTER:
        return EDIT_DARKER;
    case EDIT_DARKER:
        return EDIT_BRIGHTER;
    case EDIT_BLUR:
        return EDIT_SHARPEN;
    case EDIT_SHARPEN:
        return EDIT_BLUR;
    case EDIT_CONTRAST:
        return EDIT_LESS_CONTRAST;
    case EDIT_LESS_CONTRAST:
        return EDIT_CONTRAST;
    case EDIT_WARM:
        return EDIT_COOL;
    case EDIT_COOL:
        return EDIT_WARM;
    default:
        return -1;
    }
}

/* Phrases that carry their own degree. */
static const struct {
    const char *phrase;
    enum edit_strength strength;
} phrase_degrees[] = {
    {"high contrast", EDIT_STRONG},
};

/* ---- the parser's own words ---- */

enum {
    W_FILLER = 1u << 0, /* no meaning alone: never reported as ignored */
    W_WEAK = 1u << 1,   /* degree: weaker */
    W_STRONG = 1u << 2, /* degree: stronger */
    W_NEG = 1u << 3,    /* starts a negation */
    W_LESS = 1u << 4,   /* "less X" */
    W_BREAK = 1u << 5,  /* ends a clause */
    W_SOFT = 1u << 6,   /* ends a negation's clause once it has negated an edit */
    W_COLOR = 1u << 7,  /* "color": a negation of it means black and white */
    W_KNOWN = 1u << 8,  /* an everyday word: never read as a typo of a vocabulary word */
    W_ABSENT = 1u << 9, /* a negation that means "take away": "no color" is black and white */
};

static const struct {
    const char *word;
    unsigned flags;
} words[] = {
    /* filler */
    {"a", W_FILLER},
    {"an", W_FILLER},
    {"the", W_FILLER},
    {"it", W_FILLER},
    {"its", W_FILLER},
    {"this", W_FILLER},
    {"that", W_FILLER},
    {"these", W_FILLER},
    {"those", W_FILLER},
    {"my", W_FILLER},
    {"me", W_FILLER},
    {"i", W_FILLER},
    {"im", W_FILLER},
    {"id", W_FILLER},
    {"ill", W_FILLER},
    {"you", W_FILLER},
    {"your", W_FILLER},
    {"we", W_FILLER},
    {"us", W_FILLER},
    {"our", W_FILLER},
    {"please", W_FILLER},
    {"pls", W_FILLER},
    {"plz", W_FILLER},
    {"thanks", W_FILLER},
    {"thank", W_FILLER},
    {"can", W_FILLER},
    {"could", W_FILLER},
    {"would", W_FILLER},
    {"will", W_FILLER},
    {"should", W_FILLER},
    {"want", W_FILLER},
    {"wanna", W_FILLER},
    {"need", W_FILLER},
    {"like", W_FILLER},
    {"love", W_FILLER},
    {"be", W_FILLER},
    {"is", W_FILLER},
    {"are", W_FILLER},
    {"was", W_FILLER},
    {"look", W_FILLER},
    {"looks", W_FILLER},
    {"looking", W_FILLER},
    {"style", W_FILLER},
    {"effect", W_FILLER},
    {"filter", W_FILLER},
    {"tone", W_FILLER},
    {"tones", W_FILLER},
    {"version", W_FILLER},
    {"mode", W_FILLER},
    {"picture", W_FILLER},
    {"image", W_FILLER},
    {"photo", W_FILLER},
    {"pic", W_FILLER},
    {"drawing", W_FILLER},
    {"whole", W_FILLER},
    {"all", W_FILLER},
    {"any", W_FILLER},
    {"some", W_FILLER},
    {"bit", W_WEAK},
    {"to", W_FILLER},
    {"of", W_FILLER},
    {"into", W_FILLER},
    {"in", W_FILLER},
    {"on", W_FILLER},
    {"as", W_FILLER},
    {"up", W_FILLER},
    {"for", W_FILLER},
    {"with", W_FILLER | W_BREAK},
    {"now", W_FILLER},
    {"again", W_FILLER},
    {"do", W_FILLER},
    {"get", W_FILLER},
    {"let", W_FILLER},
    {"lets", W_FILLER},
    {"set", W_FILLER},
    {"change", W_FILLER},
    {"adjust", W_FILLER},
    {"have", W_FILLER},
    {"has", W_FILLER},
    {"hey", W_FILLER},
    {"ok", W_FILLER},
    {"okay", W_FILLER},
    {"degrees", W_FILLER},
    {"degree", W_FILLER},
    {"90", W_FILLER},
    {"color", W_FILLER | W_COLOR},
    {"colors", W_FILLER | W_COLOR},
    {"colour", W_FILLER | W_COLOR},
    {"colours", W_FILLER | W_COLOR},
    {"more", W_FILLER},
    {"increase", W_FILLER},
    {"increased", W_FILLER},
    {"boost", W_FILLER},
    {"raise", W_FILLER},
    {"enhance", W_FILLER},
    {"intensify", W_FILLER},
    {"higher", W_FILLER},
    {"even", W_FILLER},
    {"so", W_FILLER},
    {"enough", W_FILLER},
    {"rather", W_FILLER},
    {"than", W_FILLER},
    {"down", W_FILLER},
    {"or", W_FILLER},
    {"nor", W_FILLER | W_NEG},
    /* starts a new request (filler too) */
    {"make", W_FILLER | W_SOFT},
    {"makes", W_FILLER | W_SOFT},
    {"turn", W_FILLER | W_SOFT},
    {"add", W_FILLER | W_SOFT},
    {"give", W_FILLER | W_SOFT},
    {"apply", W_FILLER | W_SOFT},
    {"put", W_FILLER | W_SOFT},
    {"use", W_FILLER | W_SOFT},
    {"keep", W_FILLER | W_SOFT},
    {"just", W_FILLER | W_SOFT},
    {"only", W_FILLER | W_SOFT},
    /* clause words */
    {"and", W_FILLER | W_BREAK},
    {"then", W_FILLER | W_BREAK},
    {"but", W_FILLER | W_BREAK},
    {"also", W_FILLER | W_BREAK},
    {"plus", W_FILLER | W_BREAK},
    {"instead", W_FILLER | W_BREAK},
    {"however", W_FILLER | W_BREAK},
    {"though", W_FILLER | W_BREAK},
    {"although", W_FILLER | W_BREAK},
    {"while", W_FILLER | W_BREAK},
    {"after", W_FILLER | W_BREAK},
    /* degree */
    {"slightly", W_WEAK},
    {"slight", W_WEAK},
    {"little", W_WEAK},
    {"tad", W_WEAK},
    {"touch", W_WEAK},
    {"hint", W_WEAK},
    {"somewhat", W_WEAK},
    {"mildly", W_WEAK},
    {"mild", W_WEAK},
    {"subtly", W_WEAK},
    {"subtle", W_WEAK},
    {"gently", W_WEAK},
    {"gentle", W_WEAK},
    {"lightly", W_WEAK},
    {"barely", W_WEAK},
    {"faintly", W_WEAK},
    {"kinda", W_WEAK},
    {"sorta", W_WEAK},
    {"tiny", W_WEAK},
    {"very", W_STRONG},
    {"much", W_STRONG},
    {"really", W_STRONG},
    {"super", W_STRONG},
    {"extremely", W_STRONG},
    {"way", W_STRONG},
    {"lot", W_STRONG},
    {"lots", W_STRONG},
    {"tons", W_STRONG},
    {"extra", W_STRONG},
    {"ultra", W_STRONG},
    {"highly", W_STRONG},
    {"heavily", W_STRONG},
    {"heavy", W_STRONG},
    {"strongly", W_STRONG},
    {"strong", W_STRONG},
    {"stronger", W_STRONG},
    {"intense", W_STRONG},
    {"intensely", W_STRONG},
    {"hugely", W_STRONG},
    {"massively", W_STRONG},
    {"seriously", W_STRONG},
    {"incredibly", W_STRONG},
    {"totally", W_STRONG},
    {"completely", W_STRONG},
    {"fully", W_STRONG},
    {"maximum", W_STRONG},
    /* negation */
    {"not", W_NEG},
    {"no", W_NEG | W_ABSENT},
    {"dont", W_NEG},
    {"doesnt", W_NEG},
    {"didnt", W_NEG},
    {"isnt", W_NEG},
    {"arent", W_NEG},
    {"wasnt", W_NEG},
    {"werent", W_NEG},
    {"wont", W_NEG},
    {"wouldnt", W_NEG},
    {"shouldnt", W_NEG},
    {"cant", W_NEG},
    {"cannot", W_NEG},
    {"couldnt", W_NEG},
    {"mustnt", W_NEG},
    {"never", W_NEG},
    {"without", W_NEG | W_ABSENT},
    {"nothing", W_NEG},
    {"none", W_NEG | W_ABSENT},
    {"neither", W_NEG},
    {"stop", W_NEG},
    {"avoid", W_NEG},
    {"remove", W_NEG | W_ABSENT},
    {"removing", W_NEG | W_ABSENT},
    {"undo", W_NEG},
    {"minus", W_NEG | W_ABSENT},
    {"skip", W_NEG},
    {"lose", W_NEG | W_ABSENT},
    {"rid", W_NEG | W_ABSENT},
    {"strip", W_NEG | W_ABSENT},
    {"drain", W_NEG | W_ABSENT},
    {"except", W_NEG},
    {"hate", W_NEG},
    {"dislike", W_NEG},
    /* less */
    {"less", W_LESS},
    {"too", W_LESS | W_FILLER}, /* "too dark": less dark */
    {"lessen", W_LESS},
    {"reduce", W_LESS},
    {"reduced", W_LESS},
    {"decrease", W_LESS},
    {"decreased", W_LESS},
    {"lower", W_LESS},
    {"lowered", W_LESS},
    {"fewer", W_LESS},
    {"weaker", W_LESS},
    {"weaken", W_LESS},
    {"diminish", W_LESS},
    /* everyday words one letter away from a vocabulary word with the same first letter
     * (found in the CMU dictionary): never read as typos */
    {"animate", W_KNOWN},
    {"animates", W_KNOWN},
    {"blight", W_KNOWN},
    {"blocks", W_KNOWN},
    {"boarder", W_KNOWN},
    {"boarders", W_KNOWN},
    {"bolder", W_KNOWN},
    {"carted", W_KNOWN},
    {"carton", W_KNOWN},
    {"cartons", W_KNOWN},
    {"carver", W_KNOWN},
    {"charity", W_KNOWN},
    {"chopped", W_KNOWN},
    {"chopping", W_KNOWN},
    {"clarify", W_KNOWN},
    {"cleaner", W_KNOWN},
    {"cleared", W_KNOWN},
    {"cleaver", W_KNOWN},
    {"coiled", W_KNOWN},
    {"contract", W_KNOWN},
    {"cooked", W_KNOWN},
    {"cooker", W_KNOWN},
    {"cooped", W_KNOWN},
    {"cooper", W_KNOWN},
    {"copier", W_KNOWN},
    {"copped", W_KNOWN},
    {"copping", W_KNOWN},
    {"counted", W_KNOWN},
    {"craved", W_KNOWN},
    {"curved", W_KNOWN},
    {"danker", W_KNOWN},
    {"darner", W_KNOWN},
    {"darter", W_KNOWN},
    {"derail", W_KNOWN},
    {"detain", W_KNOWN},
    {"dreams", W_KNOWN},
    {"dreamt", W_KNOWN},
    {"dreary", W_KNOWN},
    {"farmed", W_KNOWN},
    {"farming", W_KNOWN},
    {"fatter", W_KNOWN},
    {"flamed", W_KNOWN},
    {"flaming", W_KNOWN},
    {"flapped", W_KNOWN},
    {"flatten", W_KNOWN},
    {"flattery", W_KNOWN},
    {"flutter", W_KNOWN},
    {"foaming", W_KNOWN},
    {"frayed", W_KNOWN},
    {"fraying", W_KNOWN},
    {"growing", W_KNOWN},
    {"hatter", W_KNOWN},
    {"hither", W_KNOWN},
    {"hitter", W_KNOWN},
    {"hooter", W_KNOWN},
    {"insert", W_KNOWN},
    {"inserted", W_KNOWN},
    {"invent", W_KNOWN},
    {"invented", W_KNOWN},
    {"invest", W_KNOWN},
    {"invested", W_KNOWN},
    {"lighted", W_KNOWN},
    {"pained", W_KNOWN},
    {"painter", W_KNOWN},
    {"panted", W_KNOWN},
    {"panting", W_KNOWN},
    {"passel", W_KNOWN},
    {"pasted", W_KNOWN},
    {"paster", W_KNOWN},
    {"pester", W_KNOWN},
    {"pointed", W_KNOWN},
    {"pointing", W_KNOWN},
    {"porter", W_KNOWN},
    {"posted", W_KNOWN},
    {"potter", W_KNOWN},
    {"pouter", W_KNOWN},
    {"printed", W_KNOWN},
    {"printing", W_KNOWN},
    {"relied", W_KNOWN},
    {"relies", W_KNOWN},
    {"remote", W_KNOWN},
    {"rotted", W_KNOWN},
    {"scarry", W_KNOWN},
    {"sharer", W_KNOWN},
    {"showing", W_KNOWN},
    {"slowing", W_KNOWN},
    {"snoring", W_KNOWN},
    {"sorter", W_KNOWN},
    {"sowing", W_KNOWN},
    {"stampede", W_KNOWN},
    {"stamper", W_KNOWN},
    {"stomped", W_KNOWN},
    {"stowing", W_KNOWN},
    {"stranger", W_KNOWN},
    {"strikes", W_KNOWN},
    {"stringer", W_KNOWN},
    {"stumped", W_KNOWN},
    {"subset", W_KNOWN},
    {"swamped", W_KNOWN},
    {"warded", W_KNOWN},
    {"warder", W_KNOWN},
    {"warned", W_KNOWN},
    {"warped", W_KNOWN},
    {"washer", W_KNOWN},
    {"washes", W_KNOWN},
    {"wasted", W_KNOWN},
    {"winder", W_KNOWN},
    {"winery", W_KNOWN},
    {"winger", W_KNOWN},
    {"winker", W_KNOWN},
    {"winner", W_KNOWN},
    {"wished", W_KNOWN},
};

/* The flags of word w (n bytes), 0 when it is none of the parser's own words. */
static unsigned word_flags(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].word) == n && memcmp(words[i].word, w, n) == 0)
            return words[i].flags;
    }
    return 0;
}

/* ---- words of a prompt ---- */

struct token {
    const char *s; /* the word as matched (a vocabulary word after a typo fix); not NUL-ended */
    size_t len;
    const char *text; /* the word as written, lowercased */
    size_t text_len;
    unsigned flags; /* W_* of the written word */
    bool brk;       /* a punctuation break stands before this word */
    bool used;      /* part of a matched phrase (or of a negated "color") */
    bool consumed;  /* used by an applied edit: not ignored */
    int match;      /* the match this word belongs to, or -1 */
};

/* A phrase found in the prompt. */
struct match {
    enum edit_kind kind;
    const char *phrase;
    size_t first, last; /* token indexes */
    enum edit_strength strength;
    bool has_degree;
    int less;     /* token index of a "less" word turning it around, or -1 */
    bool negated; /* inside a negation's clause */
    bool dropped; /* "less X" where X has no opposite */
    bool applied; /* kept in the plan (first or later mention) */
};

static bool is_word_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

static bool is_break_char(unsigned char c)
{
    return c == ',' || c == '.' || c == ';' || c == ':' || c == '!' || c == '?' || c == '(' ||
           c == ')' || c == '\n' || c == '\r';
}

/* Length of an apostrophe at p (n bytes left): ' ` U+2018 U+2019 U+02BC; 0 if none. */
static size_t apostrophe_len(const unsigned char *p, size_t n)
{
    if (n >= 1 && (p[0] == '\'' || p[0] == '`'))
        return 1;
    if (n >= 3 && p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0x98 || p[2] == 0x99))
        return 3;
    if (n >= 2 && p[0] == 0xca && p[1] == 0xbc)
        return 2;
    return 0;
}

/*
 * Lowercases prompt (n bytes) into buf (room for n + 1) without the apostrophes that sit
 * inside a word, then splits it into toks (room for n + 1). Returns the number of words.
 */
static size_t tokenise(const char *prompt, size_t n, char *buf, struct token *toks)
{
    const unsigned char *in = (const unsigned char *)prompt;
    size_t len = 0, count = 0, i = 0;
    bool brk = false;

    while (i < n) {
        size_t a = apostrophe_len(in + i, n - i);

        if (a > 0 && len > 0 && is_word_char((unsigned char)buf[len - 1]) && i + a < n &&
            is_word_char(lower(in[i + a]))) {
            i += a; /* "don't" -> "dont" */
            continue;
        }
        buf[len++] = (char)lower(in[i++]);
    }
    buf[len] = '\0';

    i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)buf[i];

        if (c == '&') {
            toks[count++] = (struct token){.s = "and", .len = 3, .brk = brk, .match = -1};
            brk = false;
            i++;
        } else if (is_word_char(c)) {
            size_t start = i;

            while (i < len && is_word_char((unsigned char)buf[i]))
                i++;
            toks[count++] =
                (struct token){.s = buf + start, .len = i - start, .brk = brk, .match = -1};
            brk = false;
        } else {
            if (is_break_char(c))
                brk = true;
            i++; /* spaces, hyphens, other punctuation, bytes of non-ASCII characters */
        }
    }
    for (size_t t = 0; t < count; t++) {
        toks[t].text = toks[t].s;
        toks[t].text_len = toks[t].len;
        toks[t].flags = word_flags(toks[t].s, toks[t].len);
    }
    return count;
}

static bool tok_is(const struct token *t, const char *w)
{
    size_t n = strlen(w);

    return t->len == n && memcmp(t->s, w, n) == 0;
}

/* Two-word readings: "instead of" and "rather than" negate ("instead" alone ends a
 * clause); "down" after "tone", "turn", "dial", "bring", "take", "calm" means less; "kind
 * of" and "sort of" are weak. */
static void context_flags(struct token *toks, size_t ntok)
{
    static const char *const downs[] = {"tone", "turn", "dial", "bring", "take", "calm"};

    for (size_t i = 0; i + 1 < ntok; i++) {
        const struct token *next = &toks[i + 1];

        if (next->brk)
            continue;
        if ((tok_is(&toks[i], "instead") && tok_is(next, "of")) ||
            (tok_is(&toks[i], "rather") && tok_is(next, "than")))
            toks[i].flags = W_NEG;
        if ((tok_is(&toks[i], "kind") || tok_is(&toks[i], "sort")) && tok_is(next, "of"))
            toks[i].flags = W_WEAK;
        for (size_t d = 0; d < sizeof(downs) / sizeof(downs[0]); d++) {
            if (tok_is(&toks[i], downs[d]) && tok_is(next, "down"))
                toks[i + 1].flags = W_LESS | W_FILLER;
        }
    }
}

/* The next space-separated word of a phrase at *p: its start and length; advances *p. */
static size_t next_word(const char **p, const char **w)
{
    const char *s = *p;
    size_t n = 0;

    while (*s == ' ')
        s++;
    *w = s;
    while (s[n] != '\0' && s[n] != ' ')
        n++;
    *p = s + n;
    return n;
}

/* Walks every phrase the parser reads: the table's, then editor_text_phrases[]. Start with
 * a zeroed cursor; returns NULL after the last phrase. */
struct phrase_cursor {
    size_t k, j;
};

static const char *next_phrase(struct phrase_cursor *c, enum edit_kind *kind)
{
    while (c->k < editor_vocabulary_len) {
        const struct editor_word *w = &editor_vocabulary[c->k];

        if (w->phrases[c->j]) {
            *kind = w->kind;
            return w->phrases[c->j++];
        }
        c->k++;
        c->j = 0;
    }
    if (c->k - editor_vocabulary_len < editor_text_phrases_len) {
        const struct editor_phrase *x = &editor_text_phrases[c->k++ - editor_vocabulary_len];

        *kind = x->kind;
        return x->phrase;
    }
    return NULL;
}

/* ---- typos ---- */

/* True when a (na bytes) and b (nb bytes) are exactly one edit apart: one letter
 * substituted, inserted or deleted, or two neighbours swapped. */
static bool one_edit_apart(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0;

    if (na + 1 < nb || nb + 1 < na)
        return false;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    if (na == nb) {
        if (i == na)
            return false; /* equal */
        if (memcmp(a + i + 1, b + i + 1, na - i - 1) == 0)
            return true; /* substitution */
        return i + 1 < na && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               memcmp(a + i + 2, b + i + 2, na - i - 2) == 0; /* transposition */
    }
    if (na > nb) /* a has one letter more: skip it */
        return memcmp(a + i + 1, b + i, nb - i) == 0;
    return memcmp(a + i, b + i + 1, na - i) == 0;
}

static bool all_letters(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 'a' || s[i] > 'z')
            return false;
    }
    return true;
}

/* Reads t as the vocabulary word it is one typo away from, if any (step 2). */
static void fix_typo(struct token *t)
{
    const char *best = NULL;
    size_t best_len = 0;

    if (t->len < TYPO_MIN_LEN || t->flags != 0 || !all_letters(t->s, t->len))
        return;
    struct phrase_cursor c = {0};
    enum edit_kind kind;

    for (const char *ph; (ph = next_phrase(&c, &kind)) != NULL;) {
        const char *p = ph, *w;
        size_t n;

        while ((n = next_word(&p, &w)) > 0) {
            if (n == t->len && memcmp(w, t->s, n) == 0)
                return; /* a vocabulary word as it is */
            if (!best && n >= TYPO_MIN_LEN && w[0] == t->s[0] &&
                one_edit_apart(t->s, t->len, w, n)) {
                best = w;
                best_len = n;
            }
        }
    }
    if (best) {
        t->s = best;
        t->len = best_len;
    }
}

/* ---- phrases ---- */

static bool allows_gap(const char *w, size_t n)
{
    static const char *const leads[] = {"rotate", "turn", "spin", "flip", "mirror"};

    for (size_t i = 0; i < sizeof(leads) / sizeof(leads[0]); i++) {
        if (strlen(leads[i]) == n && memcmp(leads[i], w, n) == 0)
            return true;
    }
    return false;
}

static bool ends_gap(const struct token *t)
{
    return tok_is(t, "and") || tok_is(t, "then") || tok_is(t, "but") || tok_is(t, "also") ||
           tok_is(t, "make");
}

/*
 * Tries phrase at toks[i]. On a match, fills idx with the token index of each phrase word
 * and returns the number of words; 0 if it does not match. idx has room for nwords_max.
 */
static size_t match_phrase(const struct token *toks, size_t ntok, size_t i, const char *phrase,
                           size_t *idx, size_t nwords_max)
{
    const char *p = phrase, *w;
    size_t n = 0, wlen, at = i;

    wlen = next_word(&p, &w);
    if (wlen == 0 || toks[i].used || toks[i].len != wlen || memcmp(toks[i].s, w, wlen) != 0)
        return 0;
    bool gap = allows_gap(w, wlen);
    idx[n++] = i;
    while ((wlen = next_word(&p, &w)) > 0) {
        size_t last = (gap && n == 1) ? at + 1 + GAP_MAX : at + 1; /* furthest index */
        size_t j;

        if (n >= nwords_max)
            return 0;
        for (j = at + 1; j < ntok && j <= last; j++) {
            if (toks[j].used || toks[j].brk)
                return 0;
            if (toks[j].len == wlen && memcmp(toks[j].s, w, wlen) == 0)
                break;
            if (ends_gap(&toks[j]))
                return 0;
        }
        if (j >= ntok || j > last)
            return 0;
        idx[n++] = j;
        at = j;
    }
    return n;
}

#define PHRASE_WORDS_MAX 8

/* Finds the best phrase starting at toks[i]: most words, then shortest span. Records it
 * as matches[*nm] (marking its words used) and returns true, or false if none starts here. */
static bool match_at(struct token *toks, size_t ntok, size_t i, struct match *matches, size_t *nm)
{
    size_t best_idx[PHRASE_WORDS_MAX], idx[PHRASE_WORDS_MAX];
    size_t best_n = 0, best_span = 0;
    const char *best_phrase = NULL;
    int best = -1;

    struct phrase_cursor c = {0};
    enum edit_kind kind;

    for (const char *ph; (ph = next_phrase(&c, &kind)) != NULL;) {
        size_t n = match_phrase(toks, ntok, i, ph, idx, PHRASE_WORDS_MAX);
        size_t span = n ? idx[n - 1] - i : 0;

        if (n > 0 && (n > best_n || (n == best_n && span < best_span))) {
            best_n = n;
            best_span = span;
            best = (int)kind;
            best_phrase = ph;
            memcpy(best_idx, idx, n * sizeof(idx[0]));
        }
    }
    if (best < 0)
        return false;
    struct match *m = &matches[*nm];
    *m = (struct match){.kind = (enum edit_kind)best,
                        .phrase = best_phrase,
                        .first = i,
                        .last = best_idx[best_n - 1],
                        .strength = EDIT_PLAIN,
                        .less = -1};
    for (size_t d = 0; d < sizeof(phrase_degrees) / sizeof(phrase_degrees[0]); d++) {
        if (strcmp(phrase_degrees[d].phrase, best_phrase) == 0) {
            m->strength = phrase_degrees[d].strength;
            m->has_degree = true;
        }
    }
    for (size_t w = 0; w < best_n; w++) {
        toks[best_idx[w]].used = true;
        toks[best_idx[w]].match = (int)*nm;
    }
    (*nm)++;
    return true;
}

/* ---- negation, less, degree ---- */

/* A word that a less- or degree-word may reach across: filler or degree, not a clause
 * word, not part of a phrase. */
static bool passable(const struct token *t, bool less_too)
{
    if (t->used || (t->flags & (W_BREAK | W_NEG)))
        return false;
    if (t->flags & (W_FILLER | W_WEAK | W_STRONG))
        return true;
    return less_too && (t->flags & W_LESS);
}

/* The match that starts at token j, or -1 (j is inside a phrase, or in none). */
static int match_starting(const struct token *toks, const struct match *matches, size_t j)
{
    int m = toks[j].match;

    return (m >= 0 && matches[m].first == j) ? m : -1;
}

/* The phrase that starts past passable words from toks[from], in the same clause; -1 if
 * there is none. */
static int next_match(const struct token *toks, const struct match *matches, size_t ntok,
                      size_t from, bool less_too)
{
    for (size_t j = from; j < ntok; j++) {
        if (toks[j].brk)
            return -1;
        if (toks[j].used)
            return match_starting(toks, matches, j);
        if (!passable(&toks[j], less_too))
            return -1;
    }
    return -1;
}

/* Records a match of kind on tokens first and last (the words between are filler). */
static void add_match(struct token *toks, struct match *matches, size_t *nm, enum edit_kind kind,
                      const char *phrase, size_t first, size_t last)
{
    matches[*nm] = (struct match){.kind = kind,
                                  .phrase = phrase,
                                  .first = first,
                                  .last = last,
                                  .strength = EDIT_PLAIN,
                                  .less = -1};
    toks[first].used = toks[last].used = true;
    toks[first].match = toks[last].match = (int)*nm;
    (*nm)++;
}

/* The first word past filler from toks[from] in the clause if it is "color" and not yet
 * used ("no color", "reduce all the colours"); 0 if there is none. */
static size_t color_after(const struct token *toks, size_t ntok, size_t from)
{
    size_t j = from;

    while (j < ntok && !toks[j].brk && !toks[j].used && (toks[j].flags & W_FILLER) &&
           !(toks[j].flags & (W_COLOR | W_BREAK)))
        j++;
    if (j < ntok && !toks[j].brk && !toks[j].used && (toks[j].flags & W_COLOR))
        return j;
    return 0;
}

static void read_less(struct token *toks, size_t ntok, struct match *matches, size_t *nm)
{
    for (size_t i = 0; i < ntok; i++) {
        if (toks[i].used || !(toks[i].flags & W_LESS))
            continue;
        size_t c = tok_is(&toks[i], "too") ? 0 : color_after(toks, ntok, i + 1);

        if (c > 0) { /* "reduce the colors", "tone down the colour" */
            add_match(toks, matches, nm, EDIT_DESATURATE, "less color", i, c);
            continue;
        }
        int m = next_match(toks, matches, ntok, i + 1, false);

        if (m < 0 || matches[m].less >= 0)
            continue;
        int opp = opposite(matches[m].kind);

        matches[m].less = (int)i;
        if (opp < 0)
            matches[m].dropped = true;
        else
            matches[m].kind = (enum edit_kind)opp;
    }
}

static void read_negation(struct token *toks, size_t ntok, struct match *matches, size_t *nm)
{
    for (size_t i = 0; i < ntok; i++) {
        bool negated_any = false;
        size_t j;

        if (toks[i].used || !(toks[i].flags & W_NEG))
            continue;
        size_t c = (toks[i].flags & W_ABSENT) ? color_after(toks, ntok, i + 1) : 0;

        if (c > 0) { /* "no color", "remove all the colour": black and white */
            add_match(toks, matches, nm, EDIT_GRAYSCALE, "no color", i, c);
            i = c;
            continue;
        }
        for (j = i + 1; j < ntok; j++) {
            const struct token *t = &toks[j];

            if (t->brk || (!t->used && (t->flags & W_BREAK)))
                break;
            if (!t->used && (t->flags & W_SOFT) && negated_any)
                break;
            int m = match_starting(toks, matches, j);

            if (m >= 0) {
                matches[m].negated = true;
                negated_any = true;
            }
        }
    }
}

static void set_degree(struct match *m, unsigned flags)
{
    m->strength = (flags & W_WEAK) ? EDIT_WEAK : EDIT_STRONG;
    m->has_degree = true;
}

static void read_degree(struct token *toks, size_t ntok, struct match *matches)
{
    for (size_t i = 0; i < ntok; i++) {
        if (toks[i].used || !(toks[i].flags & (W_WEAK | W_STRONG)))
            continue;
        int m = next_match(toks, matches, ntok, i + 1, true);

        if (m >= 0) {
            set_degree(&matches[m], toks[i].flags); /* the nearest word before it wins */
            continue;
        }
        /* "blur it a lot": the phrase just before, past filler */
        for (size_t j = i; j-- > 0;) {
            if (toks[j + 1].brk)
                break;
            if (toks[j].used) {
                m = toks[j].match;
                if (m >= 0 && !matches[m].has_degree)
                    set_degree(&matches[m], toks[i].flags);
                break;
            }
            if (!passable(&toks[j], false))
                break;
        }
    }
}

/* ---- the plan ---- */

/* Everything editor_plan() and editor_parse() share: fills plan->steps and plan->n, and
 * when want_ignored, plan->ignored. plan is zeroed first. */
static enum err read_prompt(const char *prompt, struct edit_plan *plan, bool want_ignored)
{
    bool seen[EDIT_KIND_COUNT] = {false}, negated[EDIT_KIND_COUNT] = {false};
    int step_of[EDIT_KIND_COUNT];
    struct token *toks = NULL;
    struct match *matches = NULL;
    char *buf = NULL;
    size_t n, ntok, nm = 0;
    enum err rc = ERR_NOMEM;

    *plan = (struct edit_plan){0};
    n = strlen(prompt);
    buf = malloc(n + 1);
    toks = calloc(n + 1, sizeof(*toks));
    matches = calloc(n + 1, sizeof(*matches));
    if (!buf || !toks || !matches)
        goto out;
    ntok = tokenise(prompt, n, buf, toks);
    context_flags(toks, ntok);

    for (size_t i = 0; i < ntok; i++)
        fix_typo(&toks[i]);
    for (size_t i = 0; i < ntok; i++) {
        if (!toks[i].used)
            match_at(toks, ntok, i, matches, &nm);
    }
    read_less(toks, ntok, matches, &nm);
    read_negation(toks, ntok, matches, &nm);
    read_degree(toks, ntok, matches);

    for (size_t m = 0; m < nm; m++) {
        if (matches[m].negated && !matches[m].dropped)
            negated[matches[m].kind] = true; /* never applied, wherever else it is named */
    }
    for (size_t i = 0; i < ntok; i++) {
        int mi = match_starting(toks, matches, i);
        struct match *m = mi >= 0 ? &matches[mi] : NULL;

        if (!m || m->negated || m->dropped || negated[m->kind])
            continue;
        m->applied = true;
        if (!seen[m->kind]) {
            seen[m->kind] = true;
            step_of[m->kind] = (int)plan->n;
            plan->steps[plan->n++] = (struct edit_step){m->kind, m->strength};
        } else if (m->has_degree && plan->steps[step_of[m->kind]].strength == EDIT_PLAIN) {
            plan->steps[step_of[m->kind]].strength = m->strength;
        }
    }
    rc = ERR_OK;
    if (!want_ignored)
        goto out;

    /* the words no applied edit used */
    size_t len = 1;

    for (size_t i = 0; i < ntok; i++) {
        int mi = toks[i].match;

        if (mi >= 0 && matches[mi].applied)
            toks[i].consumed = true;
    }
    for (size_t m = 0; m < nm; m++) {
        if (matches[m].applied && matches[m].less >= 0)
            toks[matches[m].less].consumed = true;
    }
    for (size_t i = 0; i < ntok; i++) {
        if (toks[i].consumed || (!toks[i].used && (toks[i].flags & (W_FILLER | W_WEAK | W_STRONG))))
            continue;
        len += toks[i].text_len + 1;
    }
    rc = ERR_NOMEM;
    plan->ignored = malloc(len);
    if (!plan->ignored)
        goto out;
    size_t at = 0;

    for (size_t i = 0; i < ntok; i++) {
        if (toks[i].consumed || (!toks[i].used && (toks[i].flags & (W_FILLER | W_WEAK | W_STRONG))))
            continue;
        if (at > 0)
            plan->ignored[at++] = ' ';
        memcpy(plan->ignored + at, toks[i].text, toks[i].text_len);
        at += toks[i].text_len;
    }
    plan->ignored[at] = '\0';
    rc = ERR_OK;
out:
    free(matches);
    free(toks);
    free(buf);
    if (rc != ERR_OK)
        *plan = (struct edit_plan){0};
    return rc;
}

enum err editor_plan(const char *prompt, struct edit_plan *plan)
{
    if (!plan)
        return ERR_INVALID;
    *plan = (struct edit_plan){0};
    if (!prompt)
        return ERR_INVALID;
    return read_prompt(prompt, plan, true);
}

size_t editor_parse(const char *prompt, enum edit_kind *out, size_t max)
{
    struct edit_plan plan;
    size_t found = 0;

    if (!prompt || !out || max == 0)
        return 0;
    if (read_prompt(prompt, &plan, false) != ERR_OK)
        return 0;
    for (; found < plan.n && found < max; found++)
        out[found] = plan.steps[found].kind;
    return found;
}

void edit_plan_free(struct edit_plan *plan)
{
    if (!plan)
        return;
    free(plan->ignored);
    *plan = (struct edit_plan){0};
}
