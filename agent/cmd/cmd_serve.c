// SPDX-License-Identifier: MIT
/* duress serve: the command line of the daemon (serve_daemon.h; docs/api.md). */
#include <duress/cmd/cli.h>
#include <duress/cmd/cmd.h>
#include <duress/core/exitcode.h>
#include <duress/core/undo_journal.h>
#include <duress/net/netparse.h>
#include <duress/serve/serve_api.h>
#include <duress/serve/serve_daemon.h>
#include <duress/serve/serve_listen.h>

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void serve_usage(FILE *f)
{
	fprintf(f,
		"usage: duress serve [--listen unix:PATH | --listen ADDR:PORT] [--token-file FILE]\n"
		"                    [--insecure-loopback] [--allow-commands] [--allow-force]\n"
		"                    [--allow-probe-net CIDR]... [--state-dir DIR]\n"
		"                    [--metrics-listen ADDR:PORT --metrics-token-file FILE]\n\n"
		"Serves the HTTP API (docs/api.md): experiments and faults as jobs, /metrics for\n"
		"Prometheus, /v1/targets, /v1/samples, /healthz.\n\n"
		"  --listen unix:PATH    a unix socket, mode 0600 (default " SERVE_DEFAULT_LISTEN
		")\n"
		"  --listen ADDR:PORT    TCP on a numeric address (127.0.0.1:9100, [::1]:9100);\n"
		"                        needs --token-file, or --insecure-loopback on loopback\n"
		"  --token-file FILE     bearer token (first line, >= 32 random bytes: openssl\n"
		"                        rand -hex 32; file mode 0600 or stricter); every\n"
		"                        request but /healthz needs it\n"
		"  --insecure-loopback   allow TCP on a loopback address without a token\n"
		"  --allow-commands      accept posted experiments with process probes or\n"
		"                        actions and {type: env} configuration (refused by\n"
		"                        default: they run programs as root / read secrets)\n"
		"  --allow-probe-net CIDR  http probes of posted experiments may reach CIDR\n"
		"                        although it is loopback, link-local or a metadata\n"
		"                        address (refused by default; repeatable)\n"
		"  --allow-force         accept \"force\": true in posted faults (lifts the guard\n"
		"                        rails: the agent's cgroup, system slices, PID 1)\n"
		"  --metrics-listen ADDR:PORT  a second TCP listener for Prometheus: only\n"
		"                        GET /metrics (with the token below) and /healthz\n"
		"  --metrics-token-file FILE  its bearer token (as --token-file); it reads\n"
		"                        the metrics, nothing else\n"
		"  --state-dir DIR       undo journals, locks and job directories (default\n"
		"                        /run/duress)\n"
		"SIGTERM or SIGINT stops every job (each reverts) and exits 0 (7 if something\n"
		"could not be reverted).\n");
}

enum {
	OPT_LISTEN = 256,
	OPT_TOKEN,
	OPT_INSECURE,
	OPT_STATE,
	OPT_ALLOW_COMMANDS,
	OPT_ALLOW_FORCE,
	OPT_ALLOW_PROBE_NET,
	OPT_METRICS_LISTEN,
	OPT_METRICS_TOKEN,
};

const struct option serve_longopts[] = {
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN },
	{ "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
	{ "metrics-token-file", required_argument, NULL, OPT_METRICS_TOKEN },
	{ "insecure-loopback", no_argument, NULL, OPT_INSECURE },
	{ "allow-commands", no_argument, NULL, OPT_ALLOW_COMMANDS },
	{ "allow-force", no_argument, NULL, OPT_ALLOW_FORCE },
	{ "allow-probe-net", required_argument, NULL, OPT_ALLOW_PROBE_NET },
	{ "state-dir", required_argument, NULL, OPT_STATE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_serve(int argc, char **argv)
{
	struct serve_opts o = { .listen = SERVE_DEFAULT_LISTEN };
	const char *token_file = NULL, *state = NULL, *mtoken_file = NULL;
	bool insecure = false;
	struct duress_err err = { 0 };
	char token[512], mtoken[512];
	int c, rc;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", serve_longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
			o.listen = optarg;
			break;
		case OPT_TOKEN:
			token_file = optarg;
			break;
		case OPT_METRICS_LISTEN:
			o.metrics_listen = optarg;
			break;
		case OPT_METRICS_TOKEN:
			mtoken_file = optarg;
			break;
		case OPT_INSECURE:
			insecure = true;
			break;
		case OPT_ALLOW_COMMANDS:
			o.allow_commands = true;
			break;
		case OPT_ALLOW_FORCE:
			o.allow_force = true;
			break;
		case OPT_ALLOW_PROBE_NET: {
			struct ns_cidr cidr;

			if (o.nallow_probe_net == SERVE_PROBE_NET_MAX)
				return cli_usage_error("serve", "--allow-probe-net: at most %d",
						       SERVE_PROBE_NET_MAX);
			if (ns_parse_cidr(optarg, "--allow-probe-net", &cidr, &err) < 0)
				return cli_usage_error("serve", "%s", err.msg);
			o.allow_probe_net[o.nallow_probe_net++] = optarg;
			break;
		}
		case OPT_STATE:
			state = optarg;
			break;
		case 'h':
			serve_usage(stdout);
			return DURESS_EXIT_OK;
		case ':':
			return cli_usage_error("serve", "option %s needs a value",
					       argv[optind - 1]);
		default:
			return cli_usage_error("serve", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
	o.tcp = strncmp(o.listen, "unix:", 5) != 0;
	if (o.tcp && listen_parse_tcp(o.listen, &o.ss, &o.sslen) < 0)
		return cli_usage_error("serve",
				       "--listen: '%s': expected unix:PATH or a numeric ADDR:PORT "
				       "(127.0.0.1:9100, [::1]:9100)",
				       o.listen);
	if (insecure && (!o.tcp || !listen_is_loopback((struct sockaddr *)&o.ss)))
		return cli_usage_error("serve", "--insecure-loopback: only for a TCP listener on a "
						"loopback address (127.0.0.0/8, ::1)");
	if (o.tcp && !token_file && !insecure)
		return cli_usage_error("serve",
				       "--listen %s: a TCP listener needs --token-file FILE%s",
				       o.listen,
				       listen_is_loopback((struct sockaddr *)&o.ss)
					       ? " (or --insecure-loopback)"
					       : ": anyone who can reach it could inject faults");
	if (o.metrics_listen && listen_parse_tcp(o.metrics_listen, &o.mss, &o.msslen) < 0)
		return cli_usage_error("serve",
				       "--metrics-listen: '%s': expected a numeric ADDR:PORT "
				       "(10.0.0.5:9470, [::]:9470)",
				       o.metrics_listen);
	if (!o.metrics_listen != !mtoken_file)
		return cli_usage_error(
			"serve", "%s",
			o.metrics_listen ? "--metrics-listen needs --metrics-token-file FILE: "
					   "anyone who can reach it could read the metrics"
					 : "--metrics-token-file: only with --metrics-listen");
	if (token_file) {
		if (serve_read_token(token_file, token, sizeof(token), &err) < 0)
			return cli_usage_error("serve", "%s", err.msg);
		o.token = token;
	}
	if (mtoken_file) {
		if (serve_read_token(mtoken_file, mtoken, sizeof(mtoken), &err) < 0)
			return cli_usage_error("serve", "--metrics-token-file: %s", err.msg);
		o.metrics_token = mtoken;
	}
	if (cli_require_root("serve", &err) < 0)
		return cli_fail(&err);
	o.state_dir = state_dir_resolve(state);
	rc = daemon_run(&o, &err);
	return rc < 0 ? cli_fail(&err) : rc;
}
