/* Subcommands other than serve. Each returns a process exit code. */
#ifndef DELIVERYD_CLI_H
#define DELIVERYD_CLI_H

int cli_create_user(int argc, char **argv);

#endif
