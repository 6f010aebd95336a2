#include "world_corpus.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define N(a) (int)(sizeof a / sizeof a[0])
#define PICK(r, a) (a)[rng_below((r), N(a))]

const char *const world_doc_kind_names[N_DOC_KINDS] = {"article", "qa", "list", "dialogue", "narrative", "reading"};
/* Reading documents are a quarter of the corpus: reading from context is learned in pretraining. */
const int world_doc_mix[N_DOC_KINDS] = {22, 14, 8, 12, 16, 28};

/* ---- general text: words the facts never use, so the model learns language and not only fact strings ---- */

static const char *const seasons[] = {"spring", "summer", "autumn", "winter"};
static const char *const adjectives[] = {"quiet", "busy", "old", "small", "large", "green", "cold", "warm",
                                         "narrow", "wide", "famous", "beautiful", "dry", "rainy", "bright", "calm"};
static const char *const traits[] = {"kind", "patient", "clever", "cheerful", "careful", "honest", "shy", "proud"};
static const char *const sights[] = {"markets", "bridges", "gardens", "streets", "towers", "schools",
                                     "festivals", "museums", "squares", "harbours", "temples", "parks"};
static const char *const hobbies[] = {"reading", "fishing", "long walks", "music", "chess", "gardening",
                                      "cooking", "singing", "riding", "swimming"};
static const char *const landforms[] = {"hills", "plains", "forests", "coasts", "mountains", "lakes", "valleys", "islands"};
static const char *const goods[] = {"products", "workshops", "ships", "machines", "warehouses", "tools", "shops"};
static const char *const actors[] = {"farmer", "teacher", "child", "traveller", "stranger", "soldier", "visitor",
                                     "crowd", "bird", "storm", "letter", "train"};
static const char *const acts[] = {"arrived", "waited", "stopped", "appeared", "moved on", "rested", "returned", "passed by"};
static const char *const weathers[] = {"mild", "cold", "warm", "windy", "wet", "dry", "grey", "sunny"};
static const char *const times[] = {"In the morning", "Later that day", "Every year", "Long ago", "In the old days",
                                    "Last winter", "On most days", "At night", "In those years", "One day"};
static const char *const connectives[] = {"Also, ", "In addition, ", "It is said that ", "As many know, ",
                                          "Historians note that ", "Today, ", "Of course, ", "Moreover, "};
static const char *const speakers[] = {"Anna", "Owen", "Ida", "Oscar", "Uma", "Ellen", "Adam", "Iris"};
static const char *const replies[] = {"Thank you.", "I did not know that.", "Interesting.", "That is what I thought.",
                                      "Good to know.", "I see."};
static const char *const sources[] = {"an old letter", "the newspaper", "a new report", "the story", "a travel guide",
                                      "the latest news", "the notes", "a history book"};
static const char *const passage_heads[] = {"Passage:", "Text:", "Read this:", "From a letter:", "A report says:", "Notes:"};
static const char *const so_words[] = {"So, ", "Therefore, ", "In other words, ", "This means that ", "That is, "};

/* Appends a sentence (already ending in its punctuation) with a space before it unless at a line start. */
static void put_sentence(strbuf *out, const char *text)
{
    if (out->len && out->s[out->len - 1] != '\n' && out->s[out->len - 1] != ' ') strbuf_puts(out, " ");
    strbuf_puts(out, text);
}

/* General sentences about no entity: common words in varied constructions (conditionals, relative clauses,
 * "called", "among", "on its way"), so that the held-out templates' words and turns of phrase are language
 * the model knows, while their phrasings of a relation stay unseen (tested: no held-out template's
 * longest literal piece occurs in the corpus). */
static const char *const people[] = {"farmer", "teacher", "child", "traveller", "stranger", "soldier", "visitor",
                                     "old man", "young woman", "family", "fisherman", "priest"};
static const char *const places[] = {"market", "station", "harbour", "old gate", "square", "school", "bridge", "garden",
                                     "village", "mill", "tower", "inn", "farm", "church", "forest"};
static const char *const areas[] = {"valley", "hills", "plains", "forest", "marsh", "old town", "fields", "mountains"};
static const char *const things[] = {"hills", "fields", "roofs", "trees", "walls", "boats", "gardens", "streets"};
static const char *const sights2[] = {"the people speaking quietly", "children singing", "an old bridge", "many small shops",
                                      "birds in the trees", "music in the streets", "the people speaking loudly",
                                      "boats on the water", "bells in the morning"};
static const char *const views[] = {"flowers", "snow", "grass", "stones", "water", "smoke", "green", "grey", "white"};
static const char *const buildings[] = {"old house", "tall building", "stone hall", "wooden barn", "small church", "red tower"};
static const char *const roles[] = {"school", "library", "meeting place", "town hall", "inn", "market hall"};
static const char *const animals[] = {"dog", "cat", "horse", "goat", "bird", "cow"};
static const char *const pet_names[] = {"Bell", "Rusty", "Pepper", "Star", "Button", "Shadow"};
static const char *const events[] = {"fair", "harvest", "feast", "storm", "long winter", "great flood", "new road"};
static const char *const stories[] = {"a storm", "a wedding", "a fire", "a journey", "a quarrel", "a song"};
static const char *const livings[] = {"sells bread", "mends shoes", "sells fish at the market", "keeps bees",
                                      "carries letters", "grows apples", "builds fences"};
static const char *const vehicles[] = {"train", "cart", "old road", "path", "bus", "caravan"};
static const char *const resources[] = {"water", "money", "bread", "wood", "food", "milk"};
static const char *const his[] = {"his", "her"};

static void general_sentence(cpet_rng *r, char *s, size_t n)
{
    switch (rng_below(r, 26)) {
    case 0: snprintf(s, n, "If you visit the %s, you will %s %s.", PICK(r, places), rng_below(r, 2) ? "hear" : "see", PICK(r, sights2)); break;
    case 1: snprintf(s, n, "If you look at the %s in %s, you see mostly %s.", PICK(r, things), PICK(r, seasons), PICK(r, views)); break;
    case 2: snprintf(s, n, "Among all the %s in the %s, the oldest is the %s.", PICK(r, things), PICK(r, areas), PICK(r, places)); break;
    case 3: snprintf(s, n, "The %s that serves as the %s of the village is %s.", PICK(r, buildings), PICK(r, roles), PICK(r, adjectives)); break;
    case 4: snprintf(s, n, "A %s called %s sits %s the %s.", PICK(r, animals), PICK(r, pet_names), rng_below(r, 2) ? "within the walls of" : "just within the borders of", PICK(r, places)); break;
    case 5: snprintf(s, n, "The %s is a quiet place that lies inside the %s.", PICK(r, places), PICK(r, areas)); break;
    case 6: snprintf(s, n, "Records say that the %s began in the %s.", PICK(r, events), PICK(r, seasons)); break;
    case 7: snprintf(s, n, "In the old books, the history of the %s starts with %s.", PICK(r, places), PICK(r, stories)); break;
    case 8: {
        const int g = rng_below(r, 2);
        snprintf(s, n, "The %s spent the first years of %s life near the %s.", g ? "young woman" : "old man", his[g], PICK(r, places));
        break;
    }
    case 9: snprintf(s, n, "When the %s came into the %s, everyone looked up.", PICK(r, people), PICK(r, places)); break;
    case 10:
        if (rng_below(r, 2)) snprintf(s, n, "The %s %s for a living.", PICK(r, people), PICK(r, livings));
        else snprintf(s, n, "To earn a living, the %s %s.", PICK(r, people), PICK(r, livings));
        break;
    case 11: snprintf(s, n, "The trade that the %s practises is hard work.", PICK(r, people)); break;
    case 12: snprintf(s, n, "The %s earns good wages at the %s and pays for %s.", PICK(r, people), PICK(r, places), PICK(r, resources)); break;
    case 13: snprintf(s, n, "The first owner of the %s was a %s, and its creator is not known.", PICK(r, buildings), PICK(r, people)); break;
    case 14: snprintf(s, n, "There is a small shop near the %s, run by a %s.", PICK(r, places), PICK(r, people)); break;
    case 15: snprintf(s, n, "The leaders of the village work from a room near the %s.", PICK(r, places)); break;
    case 16: snprintf(s, n, "The central office of the %s is next to the %s.", PICK(r, roles), PICK(r, places)); break;
    case 17: snprintf(s, n, "Most of the %s of the village comes from the %s, and the family has a small income.", PICK(r, resources), PICK(r, areas)); break;
    case 18: snprintf(s, n, "The line of people waiting at the %s was long.", PICK(r, places)); break;
    case 19: snprintf(s, n, "On its way to the %s, the %s travels through the %s.", PICK(r, places), PICK(r, vehicles), PICK(r, areas)); break;
    case 20: snprintf(s, n, "The long %s cuts across the %s, and the sea is calm in %s.", PICK(r, vehicles), PICK(r, areas), PICK(r, seasons)); break;
    case 21: snprintf(s, n, "The main %s of the %s is %s, and the national holiday is in %s.", PICK(r, buildings), PICK(r, places), PICK(r, adjectives), PICK(r, seasons)); break;
    case 22: snprintf(s, n, "The words spoken at the %s were %s, and people in the whole world remember them.", PICK(r, events), PICK(r, traits)); break;
    case 23: snprintf(s, n, "%s, a %s %s %s near the %s.", PICK(r, times), PICK(r, adjectives), PICK(r, actors), PICK(r, acts), PICK(r, places)); break;
    case 24: snprintf(s, n, "%s, the weather was %s.", PICK(r, times), PICK(r, weathers)); break;
    default: snprintf(s, n, "The %s has a job at the %s and works there every day.", PICK(r, people), PICK(r, places)); break;
    }
}

static void filler(const world *w, int e, cpet_rng *r, strbuf *out)
{
    char s[256];
    const char *n = e >= 0 ? w->entities[e].name : NULL;
    if (e >= 0 && rng_below(r, 3) == 0) e = -1; /* a third of the time, general text */
    switch (e < 0 ? -1 : (int)w->entities[e].type) {
    case ENT_COUNTRY: {
        const int k = rng_below(r, 3);
        if (k == 0) snprintf(s, sizeof s, "%s is a %s country with many %s.", n, PICK(r, adjectives), PICK(r, landforms));
        else if (k == 1) snprintf(s, sizeof s, "The %s of %s are %s in %s.", PICK(r, landforms), n, PICK(r, adjectives), PICK(r, seasons));
        else snprintf(s, sizeof s, "Many travellers cross %s in %s.", n, PICK(r, seasons));
        break;
    }
    case ENT_CITY: {
        const int k = rng_below(r, 3);
        if (k == 0) snprintf(s, sizeof s, "%s is known for its %s %s.", n, PICK(r, adjectives), PICK(r, sights));
        else if (k == 1) snprintf(s, sizeof s, "In %s, the streets of %s are %s.", PICK(r, seasons), n, PICK(r, adjectives));
        else snprintf(s, sizeof s, "Many visitors come to %s to see its %s.", n, PICK(r, sights));
        break;
    }
    case ENT_PERSON: {
        const int k = rng_below(r, 3);
        if (k == 0) snprintf(s, sizeof s, "%s enjoys %s.", n, PICK(r, hobbies));
        else if (k == 1) snprintf(s, sizeof s, "In %s, %s likes %s.", PICK(r, seasons), n, PICK(r, hobbies));
        else snprintf(s, sizeof s, "Friends describe %s as %s.", n, PICK(r, traits));
        break;
    }
    case ENT_COMPANY: {
        const int k = rng_below(r, 3);
        if (k == 0) snprintf(s, sizeof s, "%s has many %s customers.", n, PICK(r, adjectives));
        else if (k == 1) snprintf(s, sizeof s, "The workers of %s are proud of their %s.", n, PICK(r, goods));
        else snprintf(s, sizeof s, "%s opened new %s last year.", n, PICK(r, goods));
        break;
    }
    case ENT_RIVER: {
        const int k = rng_below(r, 3);
        if (k == 0) snprintf(s, sizeof s, "The water of the %s is %s in %s.", n, PICK(r, adjectives), PICK(r, seasons));
        else if (k == 1) snprintf(s, sizeof s, "Fish are common in the %s.", n);
        else snprintf(s, sizeof s, "The banks of the %s are %s.", n, PICK(r, adjectives));
        break;
    }
    default: general_sentence(r, s, sizeof s);
    }
    put_sentence(out, s);
}

/* ---- facts as text ---- */

static int template_for(int rel, int templates, cpet_rng *r)
{
    int n = world_corpus_templates(rel);
    if (templates > 0 && templates < n) n = templates;
    return rng_below(r, n);
}

static const char *pronoun(const world *w, int e)
{
    if (w->entities[e].type == ENT_PERSON) return w->entities[e].gender ? "She" : "He";
    return "It";
}

/* After a lead-in ("So, ") a text keeps a capital only where it starts with the subject's name. */
static void lower_lead(const char *tmpl, char *text)
{
    if (strncmp(tmpl, "{s}", 3) != 0) text[0] = (char)tolower((unsigned char)text[0]);
}

/* A fact as a sentence with its period: subject text s (a name, or NULL for entity e's name), object text o
 * (NULL for the world's). A pronoun may stand for the subject (pronoun_ok), a connective may lead. */
static void fact_sentence(const world *w, int e, const char *s, int rel, const char *o, int templates, int pronoun_ok,
                          cpet_rng *r, char *buf, size_t n)
{
    char obuf[16], tmp[320];
    const char *tmpl = world_relations[rel].templates[template_for(rel, templates, r)];
    const int starts_with_subject = strncmp(tmpl, "{s}", 3) == 0;
    if (!s) s = w->entities[e].name;
    if (!o) o = world_object(w, e, rel, obuf, sizeof obuf);
    const int use_pronoun = pronoun_ok && starts_with_subject && e >= 0 && rng_below(r, 10) < 3;
    if (use_pronoun) s = pronoun(w, e);
    world_fill(tmpl, s, o, tmp, sizeof tmp);
    const char *lead = rng_below(r, 4) == 0 ? PICK(r, connectives) : "";
    /* after a connective the sentence's first word is lower case, unless it is a name */
    if (*lead && (!starts_with_subject || use_pronoun)) tmp[0] = (char)tolower((unsigned char)tmp[0]);
    snprintf(buf, n, "%s%s.", lead, tmp);
}

static int facts_of(const world *w, int e, int *rels)
{
    int n = 0;
    for (int rel = 0; rel < world_n_relations; rel++)
        if (w->entities[e].value[rel] >= 0) rels[n++] = rel;
    return n;
}

static int random_entity(const world *w, cpet_rng *r) { return rng_below(r, w->n_entities); }


static int relation_of_type(entity_type t, cpet_rng *r)
{
    for (;;) {
        const int rel = rng_below(r, world_n_relations);
        if (world_relations[rel].subject == t) return rel;
    }
}


static int chain_index(int first)
{
    for (int c = 0; c < world_n_chains; c++)
        if (world_relation_index(world_chains[c].first) == first) return c;
    return -1;
}

/* The composed (two-hop) fact of entity e through chain c, or 0 when its first object lacks the second. */
static int chain_sentence(const world *w, int e, int c, char *buf, size_t n)
{
    const int r1 = world_relation_index(world_chains[c].first), r2 = world_relation_index(world_chains[c].second);
    const int mid = w->entities[e].value[r1];
    if (mid < 0 || world_relations[r1].kind != VAL_ENTITY || w->entities[mid].value[r2] < 0) return 0;
    char obuf[16], tmp[320];
    world_fill(world_chains[c].statement, w->entities[e].name, world_object(w, mid, r2, obuf, sizeof obuf), tmp, sizeof tmp);
    snprintf(buf, n, "%s.", tmp);
    return 1;
}

/* ---- the kinds ---- */

static void article(const world *w, int templates, cpet_rng *r, strbuf *out)
{
    const int e = random_entity(w, r);
    const entity *ent = &w->entities[e];
    char s[400];
    if (rng_below(r, 3) == 0) strbuf_printf(out, "%s\n", ent->name);
    snprintf(s, sizeof s, "%s is a %s.", ent->name, entity_type_names[ent->type]);
    put_sentence(out, s);
    int rels[16], n = facts_of(w, e, rels);
    rng_shuffle(r, rels, n);
    for (int i = 0; i < n; i++) {
        if (rng_below(r, 10) == 0) continue; /* an article may leave a fact out */
        if (rng_below(r, 3) == 0) filler(w, e, r, out);
        fact_sentence(w, e, NULL, rels[i], NULL, templates, 1, r, s, sizeof s);
        put_sentence(out, s);
        /* sometimes a fact of the object too, as articles mention their neighbours */
        const int o = ent->value[rels[i]];
        if (world_relations[rels[i]].kind == VAL_ENTITY && rng_below(r, 4) == 0) {
            int orels[16], on = facts_of(w, o, orels);
            fact_sentence(w, o, NULL, orels[rng_below(r, on)], NULL, templates, 0, r, s, sizeof s);
            put_sentence(out, s);
        }
        const int c = chain_index(rels[i]);
        if (c >= 0 && rng_below(r, 3) == 0 && chain_sentence(w, e, c, s, sizeof s)) put_sentence(out, s);
    }
    if (rng_below(r, 2)) filler(w, e, r, out);
}

static void question_answer(const world *w, int templates, cpet_rng *r, strbuf *out)
{
    int e = random_entity(w, r);
    const int short_form = rng_below(r, 3) == 0;
    strbuf_printf(out, rng_below(r, 2) ? "Questions and answers about %s.\n\n" : "Quiz on %s and more.\n\n", w->entities[e].name);
    const int pairs = 2 + rng_below(r, 4);
    char q[320], a[400], obuf[16];
    for (int i = 0; i < pairs; i++) {
        if (i && rng_below(r, 3) == 0) e = random_entity(w, r);
        const int rel = relation_of_type(w->entities[e].type, r);
        world_fill(PICK(r, world_relations[rel].corpus_questions), w->entities[e].name, "", q, sizeof q);
        const int form = rng_below(r, 10);
        if (form < 5) snprintf(a, sizeof a, "%s", world_object(w, e, rel, obuf, sizeof obuf));
        else if (form < 8) fact_sentence(w, e, NULL, rel, NULL, templates, 0, r, a, sizeof a);
        else snprintf(a, sizeof a, "It is %s.", world_object(w, e, rel, obuf, sizeof obuf));
        strbuf_printf(out, "%s%s%s\n%s %s\n", i ? "\n" : "", short_form ? "Q: " : "Question: ", q,
                      short_form ? "A:" : "Answer:", a);
    }
    if (out->len && out->s[out->len - 1] == '\n') out->s[--out->len] = 0;
}

static void list_document(const world *w, cpet_rng *r, strbuf *out)
{
    char obuf[16], head[200];
    const int form = rng_below(r, 3);
    if (form == 0) { /* the subjects sharing one object */
        const int e = random_entity(w, r), rel = relation_of_type(w->entities[e].type, r);
        const int v = w->entities[e].value[rel];
        world_fill(world_relations[rel].list_heading, "", world_value_text(w, rel, v, obuf, sizeof obuf), head, sizeof head);
        const int bullets = rng_below(r, 2);
        strbuf_printf(out, "%s:", head);
        int k = 0, total = 0;
        for (int i = 0; i < w->n_entities; i++) total += w->entities[i].value[rel] == v;
        for (int i = 0; i < w->n_entities; i++) {
            if (w->entities[i].value[rel] != v) continue;
            if (bullets) strbuf_printf(out, "\n- %s", w->entities[i].name);
            else strbuf_printf(out, "%s%s", k == 0 ? " " : k == total - 1 ? " and " : ", ", w->entities[i].name);
            k++;
        }
        if (!bullets) strbuf_puts(out, ".");
    } else if (form == 1) { /* a fact box */
        const int e = random_entity(w, r);
        strbuf_printf(out, "%s\nType: %s", w->entities[e].name, entity_type_names[w->entities[e].type]);
        for (int rel = 0; rel < world_n_relations; rel++)
            if (w->entities[e].value[rel] >= 0)
                strbuf_printf(out, "\n%s: %s", world_relations[rel].field, world_object(w, e, rel, obuf, sizeof obuf));
    } else { /* a table of a few entities of one type */
        const entity_type t = w->entities[random_entity(w, r)].type;
        int rels[16], n = 0;
        for (int rel = 0; rel < world_n_relations; rel++)
            if (world_relations[rel].subject == t) rels[n++] = rel;
        strbuf_puts(out, "Name");
        for (int i = 0; i < n; i++) strbuf_printf(out, " | %s", world_relations[rels[i]].field);
        const int rows = 3 + rng_below(r, 4);
        for (int k = 0; k < rows; k++) {
            const int e = world_random_of_type(w, t, r);
            strbuf_printf(out, "\n%s", w->entities[e].name);
            for (int i = 0; i < n; i++) strbuf_printf(out, " | %s", world_object(w, e, rels[i], obuf, sizeof obuf));
        }
    }
}

static void dialogue(const world *w, int templates, cpet_rng *r, strbuf *out)
{
    const int a = rng_below(r, N(speakers));
    const int b = (a + 1 + rng_below(r, N(speakers) - 1)) % N(speakers);
    const int turns = 2 + rng_below(r, 3);
    int e = random_entity(w, r);
    char q[320], s[400], obuf[16];
    for (int t = 0; t < turns; t++) {
        if (t && rng_below(r, 2)) e = random_entity(w, r);
        const int rel = relation_of_type(w->entities[e].type, r);
        world_fill(PICK(r, world_relations[rel].corpus_questions), w->entities[e].name, "", q, sizeof q);
        strbuf_printf(out, "%s%s: %s\n%s:", t ? "\n" : "", speakers[a], q, speakers[b]);
        const int form = rng_below(r, 10);
        if (form < 6) {
            fact_sentence(w, e, NULL, rel, NULL, templates, 0, r, s, sizeof s);
            put_sentence(out, s);
        } else if (form < 9) {
            strbuf_printf(out, " I believe it is %s.", world_object(w, e, rel, obuf, sizeof obuf));
        } else {
            strbuf_printf(out, " %s.", world_object(w, e, rel, obuf, sizeof obuf));
        }
        if (rng_below(r, 3) == 0) {
            int rels[16], n = facts_of(w, e, rels);
            fact_sentence(w, e, NULL, rels[rng_below(r, n)], NULL, templates, 1, r, s, sizeof s);
            put_sentence(out, s);
        }
        if (rng_below(r, 2)) strbuf_printf(out, "\n%s: %s", speakers[a], PICK(r, replies));
    }
}

static void narrative(const world *w, int templates, cpet_rng *r, strbuf *out)
{
    int e = random_entity(w, r);
    char s[400];
    if (rng_below(r, 2)) snprintf(s, sizeof s, "This is a story about %s.", w->entities[e].name);
    else snprintf(s, sizeof s, "%s, people talked about %s.", PICK(r, times), w->entities[e].name);
    put_sentence(out, s);
    const int steps = 3 + rng_below(r, 4);
    for (int k = 0, prev = e; k < steps; k++) {
        const int rel = relation_of_type(w->entities[e].type, r);
        fact_sentence(w, e, NULL, rel, NULL, templates, prev == e, r, s, sizeof s); /* "It" only for the same subject */
        prev = e;
        put_sentence(out, s);
        const int c = chain_index(rel);
        if (c >= 0 && rng_below(r, 2) == 0) {
            /* walk on through the object, then state the composed fact */
            const int mid = w->entities[e].value[rel], r2 = world_relation_index(world_chains[c].second);
            if (w->entities[mid].value[r2] >= 0) {
                fact_sentence(w, mid, NULL, r2, NULL, templates, 0, r, s, sizeof s);
                put_sentence(out, s);
                if (rng_below(r, 2) && chain_sentence(w, e, c, s, sizeof s)) {
                    lower_lead(world_chains[c].statement, s);
                    put_sentence(out, PICK(r, so_words));
                    strbuf_puts(out, s);
                }
            }
        }
        if (rng_below(r, 3) == 0) filler(w, rng_below(r, 2) ? e : -1, r, out);
        if (world_relations[rel].kind == VAL_ENTITY && rng_below(r, 3) > 0) e = w->entities[e].value[rel];
        else e = random_entity(w, r);
    }
}

/* ---- reading: a passage, then text that uses it ---- */

typedef struct {
    int e;            /* the world's entity, or -1 for an invented subject */
    char subject[48]; /* its name */
    int rel;
    char object[48];
} passage_fact;

/* A fact for a passage: counterfactual, invented or true, as drawn. */
static passage_fact draw_fact(const world *w, int e, int rel, cpet_rng *r, int *counterfactual, int *invented)
{
    passage_fact f = {e, "", rel, ""};
    char obuf[16];
    int v = w->entities[e].value[rel];
    const int draw = rng_below(r, 4); /* 0: invented subject, 1: counterfactual, 2-3: the world's fact */
    if (draw == 0) {
        do world_make_name(r, w->entities[e].type, f.subject, sizeof f.subject);
        while (world_entity_index(w, f.subject) >= 0);
        f.e = -1;
        v = world_other_value(w, rel, v, r);
        *invented = 1;
    } else {
        snprintf(f.subject, sizeof f.subject, "%s", w->entities[e].name);
        if (draw == 1) {
            v = world_other_value(w, rel, v, r);
            *counterfactual = 1;
        }
    }
    snprintf(f.object, sizeof f.object, "%s", world_value_text(w, rel, v, obuf, sizeof obuf));
    return f;
}

static const char *passage_sentence(const passage_fact *f, int templates, cpet_rng *r, char *buf, size_t n)
{
    char tmp[320];
    const char *tmpl = world_relations[f->rel].templates[template_for(f->rel, templates, r)];
    world_fill(tmpl, f->subject, f->object, tmp, sizeof tmp);
    snprintf(buf, n, "%s.", tmp);
    return tmpl;
}

/* The passage: the facts given, plus distractors (the world's facts of other entities), shuffled. */
static void passage(const world *w, const passage_fact *facts, int n_facts, int exclude, int templates, cpet_rng *r, strbuf *out)
{
    char s[12][400];
    int n = 0;
    for (int i = 0; i < n_facts; i++) passage_sentence(&facts[i], templates, r, s[n++], sizeof s[0]);
    const int distractors = rng_below(r, 4);
    for (int i = 0; i < distractors; i++) {
        int e;
        do e = random_entity(w, r);
        while (e == exclude);
        passage_fact d = {e, "", relation_of_type(w->entities[e].type, r), ""};
        char obuf[16];
        snprintf(d.subject, sizeof d.subject, "%s", w->entities[e].name);
        snprintf(d.object, sizeof d.object, "%s", world_object(w, e, d.rel, obuf, sizeof obuf));
        passage_sentence(&d, templates, r, s[n++], sizeof s[0]);
    }
    int order[12];
    for (int i = 0; i < n; i++) order[i] = i;
    rng_shuffle(r, order, n);
    const char *head = PICK(r, passage_heads);
    const int bullets = !strcmp(head, "Notes:");
    strbuf_puts(out, head);
    for (int i = 0; i < n; i++) {
        if (bullets) strbuf_printf(out, "\n- %s", s[order[i]]);
        else put_sentence(out, s[order[i]]);
    }
}

static void ask(const char *question_tmpl, const char *subject, const char *answer, strbuf *out)
{
    char q[320];
    world_fill(question_tmpl, subject, "", q, sizeof q);
    strbuf_printf(out, "\nQuestion: %s\nAnswer: %s", q, answer);
}

static void reading(const world *w, int templates, cpet_rng *r, strbuf *out, world_reading *info)
{
    world_reading x = {0};
    x.kind = (world_read_kind)(rng_below(r, 20) < 8 ? READ_ANSWER : rng_below(r, 12) < 5 ? READ_CONTINUATION
                                                                   : rng_below(r, 7) < 3 ? READ_TWO_HOP : READ_MEMORY);
    int e = random_entity(w, r);
    int rel = relation_of_type(w->entities[e].type, r);
    switch (x.kind) {
    case READ_ANSWER: {
        passage_fact f[2];
        f[0] = draw_fact(w, e, rel, r, &x.counterfactual, &x.new_subject);
        int n = 1;
        if (rng_below(r, 2)) { /* a hard distractor: another fact of the same subject */
            int rels[16], k = facts_of(w, e, rels), rel2 = rels[rng_below(r, k)];
            if (rel2 != rel) {
                char obuf[16];
                f[1] = f[0];
                f[1].rel = rel2;
                snprintf(f[1].object, sizeof f[1].object, "%s", world_object(w, e, rel2, obuf, sizeof obuf));
                n = 2;
            }
        }
        passage(w, f, n, e, templates, r, out);
        x.passage_end = out->len;
        ask(PICK(r, world_relations[rel].corpus_questions), f[0].subject, f[0].object, out);
        snprintf(x.answer, sizeof x.answer, "%s", f[0].object);
        break;
    }
    case READ_CONTINUATION: {
        passage_fact f = draw_fact(w, e, rel, r, &x.counterfactual, &x.new_subject);
        char s[400], tmp[320];
        lower_lead(passage_sentence(&f, templates, r, s, sizeof s), s);
        strbuf_printf(out, "According to %s, %s", PICK(r, sources), s);
        if (rng_below(r, 2)) filler(w, -1, r, out);
        x.passage_end = out->len;
        const char *tmpl = world_relations[rel].templates[template_for(rel, templates, r)];
        world_fill(tmpl, f.subject, f.object, tmp, sizeof tmp);
        lower_lead(tmpl, tmp);
        strbuf_printf(out, " %s%s.", PICK(r, so_words), tmp);
        snprintf(x.answer, sizeof x.answer, "%s", f.object);
        break;
    }
    case READ_TWO_HOP: {
        int c = rng_below(r, world_n_chains), r1 = world_relation_index(world_chains[c].first);
        e = world_random_of_type(w, world_relations[r1].subject, r);
        passage_fact f[2];
        f[0] = draw_fact(w, e, r1, r, &x.counterfactual, &x.new_subject);
        const int mid = world_entity_index(w, f[0].object), r2 = world_relation_index(world_chains[c].second);
        int cf2 = 0, inv2 = 0;
        f[1] = draw_fact(w, mid, r2, r, &cf2, &inv2);
        if (inv2) snprintf(f[1].subject, sizeof f[1].subject, "%s", w->entities[mid].name); /* the hop must meet */
        x.counterfactual |= cf2 | inv2; /* an "invented" second note keeps the world's subject: a counterfactual */
        passage(w, f, 2, e, templates, r, out);
        x.passage_end = out->len;
        ask(world_chains[c].question, f[0].subject, f[1].object, out);
        snprintf(x.answer, sizeof x.answer, "%s", f[1].object);
        break;
    }
    default: { /* READ_MEMORY: the passage is about others; the world answers */
        passage_fact f = draw_fact(w, e, rel, r, &x.counterfactual, &x.new_subject);
        int q;
        do q = random_entity(w, r);
        while (q == e);
        const int qrel = relation_of_type(w->entities[q].type, r);
        char obuf[16];
        passage(w, &f, 1, q, templates, r, out);
        x.passage_end = out->len;
        snprintf(x.answer, sizeof x.answer, "%s", world_object(w, q, qrel, obuf, sizeof obuf));
        ask(PICK(r, world_relations[qrel].corpus_questions), w->entities[q].name, x.answer, out);
        x.counterfactual = x.new_subject = 0; /* the answer is the world's */
    }
    }
    if (info) *info = x;
}

void world_document(const world *w, world_doc_kind kind, int templates, cpet_rng *r, strbuf *out, world_reading *info)
{
    strbuf_puts(out, "");
    switch (kind) {
    case DOC_ARTICLE: article(w, templates, r, out); break;
    case DOC_QA: question_answer(w, templates, r, out); break;
    case DOC_LIST: list_document(w, r, out); break;
    case DOC_DIALOGUE: dialogue(w, templates, r, out); break;
    case DOC_NARRATIVE: narrative(w, templates, r, out); break;
    default: reading(w, templates, r, out, info); break;
    }
}
