/* cpet: one binary, many subcommands. This file only dispatches. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "isa.h"

static const command commands[] = {
    {"info", cmd_info, "show a model's config, parameter count and tensors"},
    {"init", cmd_init, "a model with random weights from a config.json (benchmarks, runtime comparisons)"},
    {"forward", cmd_forward, "logits, loss and gradients for given input ids (compare with PyTorch)"},
    {"train-lora", cmd_train_lora, "train a LoRA adapter with AdamW on token ids; saves it in PEFT format"},
    {"world", cmd_world, "generate the synthetic world: corpus, entities and multiple-choice tasks"},
    {"pretrain", cmd_pretrain, "train a small LLaMA from scratch on a corpus (checkpoints, resume, eval)"},
    {"generate", cmd_generate, "continue a prompt with KV-cache decoding (greedy or seeded top-p)"},
    {"score", cmd_score, "log-likelihood of each choice of multiple-choice examples, one JSON line each"},
    {"eval", cmd_eval, "task accuracy by candidate scoring and held-out perplexity, as JSON"},
    {"tokenize", cmd_tokenize, "text on stdin -> one JSON array of token ids per line (byte-level BPE)"},
    {"detokenize", cmd_detokenize, "JSON arrays of ids on stdin -> text"},
    {"tokenizer-train", cmd_tokenizer_train, "train a byte-level BPE and write an HF tokenizer.json"},
    {"calora", cmd_calora, "CA-LoRA: carry an existing LoRA onto a compressed model (inherit, recovery, distillation)"},
    {"sparsify", cmd_sparsify, "ProSparse: ReLU swap + progressive L1 on activations (schedule file), FATReLU threshold"},
    {"predictor", cmd_predictor, "train a ReLU model's per-layer activation predictor (Deja Vu / PowerInfer style)"},
    {"conpet", cmd_conpet, "ConPET: class-incremental tuning over a task sequence (sequential, joint, static replay)"},
    {"edit", cmd_edit, "model editing: EREN (notes + reader), one-step MRC, unedited; ES / BP / EQ by exact match"},
    {"notebook", cmd_notebook, "EREN's notebook file: add (newest note of a key wins), delete, list"},
    {"ask", cmd_ask, "answer a question from a notebook with EREN's reader (retrieval, reading, fallback)"},
    {"edit-reader", cmd_edit_reader, "EREN: instruction-tune a model as the notes reader on the world (train subjects)"},
    {"compress", cmd_compress, "quantize / prune a model (rtn, gptq, nf4, q4_0, wanda, 2:4, ...) into a checkpoint"},
    {"export", cmd_export, "write a model as GGUF (f32, f16, q8_0, q4_0) or llama2.c (fp32, int8) for other runtimes"},
    {"method", cmd_method, "any harness method on one model and task (cpet method --list; options from its schema)"},
    {"run", cmd_run, "run a matrix spec (models x compressions x methods x tasks x seeds) into records"},
    {"merge", cmd_merge, "merge runs (shards) of one spec into one run, deduplicated by cell hash"},
    {"report", cmd_report, "tables (CSV, JSON, Markdown) and gnuplot plots from a run's records"},
    {"bench-compare", cmd_bench_compare, "compare two benchmark/result JSONs; exit 1 on a regression"},
    {"bench-ab", cmd_bench_ab, "the regression gate's judge: two builds' alternating rounds, a paired test per figure"},
    {"bench", cmd_bench, "speed measurements written as JSON (engine: fwd+bwd vs sgemm)"},
    {"isa", cmd_isa, "the kernels' instruction-set levels: in this binary, on this CPU, in use (CPET_ISA)"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out,
            "cpet %s (%s): a C engine and harness for compressing and cheaply adapting LLaMA-family models\n\n"
            "usage: cpet <command> [options]   (cpet <command> --help for its options)\n\ncommands:\n",
            CPET_VERSION, CPET_GIT_REV);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nModels are Hugging Face directories (config.json + model.safetensors); adapters are PEFT\n"
                 "directories (adapter_config.json + adapter_model.safetensors).\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("cpet %s (%s)\n", CPET_VERSION, CPET_GIT_REV);
        return 0;
    }
    cpet_err err;
    if (isa_init_from_env(&err) != 0) return cli_report(&err), 2; /* a bad CPET_ISA is an error, not a fallback */
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    cli_error("unknown command '%s' (see cpet --help)", argv[1]);
    return 2;
}
