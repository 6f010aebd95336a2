/* cpet world: generate the synthetic world (corpus + tasks) from a seed. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "continual.h"
#include "editing.h"
#include "fileio.h"
#include "world.h"

int cmd_world(int argc, char **argv)
{
    long seed = 0;
    int continual_only = 0, editing_only = 0;
    const char *out = NULL;
    world_sizes sizes = world_default_sizes();
    world_corpus_options opt = {0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (cli_is_help(a)) {
            printf("usage: cpet world [--seed S] [--scale K] [--docs N] [--templates T] [--continual | --editing] -o DIR\n"
                   "Generates the synthetic world: %d relations over countries, cities, people, companies and\n"
                   "rivers (default %d/%d/%d/%d/%d, times --scale), and its corpus: N documents (default 200 per\n"
                   "entity) of six kinds (articles, Q&A, lists, dialogues, narratives, reading passages), each\n"
                   "relation in T of its 8 corpus templates (default all; 2 more are held out). Written as\n"
                   "corpus_train.jsonl, corpus_heldout.jsonl, corpus_paraphrase.jsonl, corpus_seen_templates.jsonl,\n"
                   "entities.jsonl, tasks/*.jsonl and world.json. Same seed and options, same bytes.\n"
                   "--continual writes only the class-incremental sequences, in ConPET's format (world_typing:\n"
                   "34 entity types in 6 tasks; world_relation: 12 relations in 6 tasks), into DIR.\n"
                   "--editing writes only DIR/editing.jsonl: a counterfactual edit of every fact with in-scope,\n"
                   "hard out-of-scope and two-hop questions, and DIR/claims.jsonl: the same edits as fact checking\n"
                   "(claims answered yes / no) (datasets/README.md).\n",
                   world_n_relations, sizes.n_per_type[0], sizes.n_per_type[1], sizes.n_per_type[2],
                   sizes.n_per_type[3], sizes.n_per_type[4]);
            return 0;
        }
        if (strcmp(a, "--seed") == 0) bad = cli_int(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, &seed);
        else if (strcmp(a, "--scale") == 0) {
            long k;
            bad = cli_int(a, cli_value(argc, argv, &i), 1, 100, &k);
            for (int t = 0; !bad && t < N_ENTITY_TYPES; t++) sizes.n_per_type[t] *= (int)k;
        } else if (strcmp(a, "--docs") == 0) {
            long k;
            bad = cli_int(a, cli_value(argc, argv, &i), 1, 100000000L, &k);
            opt.docs = (int)k;
        } else if (strcmp(a, "--templates") == 0) {
            long k;
            bad = cli_int(a, cli_value(argc, argv, &i), 1, WORLD_MAX_TEMPLATES - WORLD_HELDOUT_TEMPLATES, &k);
            opt.templates = (int)k;
        } else if (strcmp(a, "-o") == 0) bad = !(out = cli_value(argc, argv, &i));
        else if (strcmp(a, "--continual") == 0) continual_only = 1;
        else if (strcmp(a, "--editing") == 0) editing_only = 1;
        else return cli_error("world: unknown option %s", a);
        if (bad) return 1;
    }
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
