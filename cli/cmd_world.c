/* cpet world: generate the synthetic world (corpus + tasks) from a seed. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "continual.h"
#include "editing.h"
#include "fileio.h"
#include "world.h"
#include "world_files.h"

int cmd_world(int argc, char **argv)
{
    long seed = 0, scale = 1, docs = 0, templates = 0;
    int continual_only = 0, editing_only = 0;
    const char *out = NULL;
    world_sizes sizes = world_default_sizes();
    char about[1400];
    snprintf(about, sizeof about,
             "Generates the synthetic world: %d relations over countries, cities, people, companies and rivers\n"
             "(%d/%d/%d/%d/%d, times --scale), and its corpus: N documents (default 200 per entity) of six kinds\n"
             "(articles, Q&A, lists, dialogues, narratives, reading passages), each relation in T of its 8 corpus\n"
             "templates (default all; 2 more are held out). Written as corpus_train.jsonl, corpus_heldout.jsonl,\n"
             "corpus_paraphrase.jsonl, corpus_seen_templates.jsonl, corpus_dev.jsonl, entities.jsonl, tasks/*.jsonl\n"
             "and world.json. Same seed and options, same bytes (datasets/README.md).\n",
             world_n_relations, sizes.n_per_type[0], sizes.n_per_type[1], sizes.n_per_type[2], sizes.n_per_type[3], sizes.n_per_type[4]);
    const opt opts[] = {
        OPT_SEED(&seed),
        OPT_INT("--scale", &scale, 1, 100, "entities per type times K"),
        OPT_INT_DEFAULT("--docs", &docs, 1, 100000000L, "training documents", "200 per entity"),
        OPT_INT_DEFAULT("--templates", &templates, 1, WORLD_MAX_TEMPLATES - WORLD_HELDOUT_TEMPLATES, "corpus templates per relation", "all"),
        OPT_SWITCH("--continual", &continual_only, "only the class-incremental sequences in ConPET's format (world_typing, world_relation)"),
        OPT_SWITCH("--editing", &editing_only, "only DIR/editing.jsonl (counterfactual edits with their questions) and DIR/claims.jsonl"),
        OPT_REQUIRED("-o", &out, "DIR", "the world's directory"),
        OPT_END};
    const opt_command cmd = {.name = "world", .about = about};
    const int p = cli_options(&cmd, opts, argc, argv);
    if (p != OPT_OK) return cli_exit_status(p);
    for (int t = 0; t < N_ENTITY_TYPES; t++) sizes.n_per_type[t] *= (int)scale;
    world_corpus_options opt = {.docs = (int)docs, .templates = (int)templates};
    if (!out) return cli_error("world: -o DIR is required");
    if (continual_only && editing_only) return cli_error("world: --continual and --editing write different things: one at a time");
    world w;
    cpet_err err;
    int rc = world_generate(&w, (uint64_t)seed, sizes, &err);
    if (rc == 0 && continual_only) rc = continual_write_world(&w, out, (uint64_t)seed, &err);
    else if (rc == 0 && editing_only) {
        edit_set es;
        char path[4200];
        rc = make_dirs(out, &err);
        for (int fc = 0; rc == 0 && fc < 2; fc++) {
            snprintf(path, sizeof path, "%s/%s", out, fc ? "claims.jsonl" : "editing.jsonl");
            if ((rc = (fc ? editing_build_claims : editing_build)(&w, (uint64_t)seed, &es, &err)) == 0) {
                rc = editing_write(&es, path, &err);
                edit_set_free(&es);
            }
        }
    } else if (rc == 0) rc = world_write(&w, out, &opt, &err);
    if (rc != 0) {
        world_free(&w);
        return cli_report(&err);
    }
    fprintf(stderr, "world seed %ld: %d entities -> %s%s\n", seed, w.n_entities, out,
            continual_only ? " (class-incremental sequences)" : editing_only ? " (editing cases)" : "");
    world_free(&w);
    return 0;
}
