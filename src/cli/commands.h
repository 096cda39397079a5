/* The capmetric program: one function per command (cmd_*.c); only main.c
 * calls them, and no command calls another. */
#ifndef CM_CLI_COMMANDS_H
#define CM_CLI_COMMANDS_H

int cmd_formats(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_rank(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_grid(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_laws(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_fit(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

#endif
