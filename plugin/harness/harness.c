/*
 * harness drives a Falco source+extractor plugin through its C ABI, as Falco
 * does, so tests exercise libruled.so exactly as shipped.
 *
 *   harness SO CONFIG OPEN_PARAMS run FIELD...      one pass; print every event's fields
 *   harness SO CONFIG OPEN_PARAMS cycles N          N open/drain/close cycles; print RSS
 *   harness SO CONFIG OPEN_PARAMS bench REPEAT FIELD...
 *                                                   REPEAT passes; print events/s
 *   harness SO CONFIG OPEN_PARAMS live SECONDS FIELD...
 *                                                   like run, for a live source: stop after SECONDS
 *   harness SO CONFIG - init                        plugin_init only; print rc and error
 *
 * FIELD is ID:TYPE:LIST:NAME[:KEY]. Output lines are tab separated:
 *   API <version>     INIT <rc> <error>     EVT <num> <ts>
 *   F <num> <name> <count> <value>...       END <events> <rc>
 *   RSS <cycle> <kB>  BENCH <events> <seconds> <events/s>
 *   ERR <where> <rc> <message>
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plugin_api.h"

typedef const char *(*fn_str)(void);
typedef ss_plugin_t *(*fn_init)(const ss_plugin_init_input *, ss_plugin_rc *);
typedef void (*fn_destroy)(ss_plugin_t *);
typedef const char *(*fn_last_error)(ss_plugin_t *);
typedef ss_instance_t *(*fn_open)(ss_plugin_t *, const char *, ss_plugin_rc *);
typedef void (*fn_close)(ss_plugin_t *, ss_instance_t *);
typedef ss_plugin_rc (*fn_next_batch)(ss_plugin_t *, ss_instance_t *, uint32_t *, ss_plugin_event ***);
typedef ss_plugin_rc (*fn_extract)(ss_plugin_t *, const ss_plugin_event_input *, const ss_plugin_field_extract_input *);

static struct {
	fn_str required_api_version;
	fn_init init;
	fn_destroy destroy;
	fn_last_error last_error;
	fn_open open;
	fn_close close;
	fn_next_batch next_batch;
	fn_extract extract;
} api;

struct field {
	uint32_t id;
	uint32_t type;
	int list;
	char *name;
	char *key;
};

static void *sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	if (p == NULL) {
		fprintf(stderr, "missing symbol %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static int parse_field(char *spec, struct field *f)
{
	char *parts[5] = {0};
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(spec, ":", &save); t != NULL && n < 5; t = strtok_r(NULL, ":", &save))
		parts[n++] = t;
	if (n < 4)
		return -1;
	f->id = (uint32_t)strtoul(parts[0], NULL, 10);
	f->type = (uint32_t)strtoul(parts[1], NULL, 10);
	f->list = atoi(parts[2]);
	f->name = parts[3];
	f->key = n == 5 ? parts[4] : NULL;
	return 0;
}

static void print_value(const ss_plugin_extract_field *x, uint64_t i)
{
	switch (x->ftype) {
	case FTYPE_STRING:
		printf("\t%s", x->res.str[i]);
		break;
	case FTYPE_UINT64:
	case FTYPE_ABSTIME:
	case FTYPE_RELTIME:
		printf("\t%" PRIu64, x->res.u64[i]);
		break;
	case FTYPE_BOOL:
		printf("\t%s", x->res.boolean[i] ? "true" : "false");
		break;
	default:
		printf("\t?type%u", x->ftype);
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &res) != 2)
		res = -1;
	fclose(f);
	return res * 4;
}

/* One open/drain/close pass. Extracts and (if print) prints the fields of
 * every event; returns the number of events, or -1 on error. */
static long pass(ss_plugin_t *s, const char *params, struct field *fs, int nf, int print, uint64_t *evtnum, double deadline)
{
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_instance_t *h = api.open(s, params, &rc);
	if (rc != SS_PLUGIN_SUCCESS) {
		printf("ERR\topen\t%d\t%s\n", rc, api.last_error(s));
		return -1;
	}
	ss_plugin_extract_field *xs = calloc(nf > 0 ? nf : 1, sizeof(*xs));
	long events = 0;
	for (;;) {
		uint32_t n = 0;
		ss_plugin_event **evts = NULL;
		if (deadline > 0 && now() > deadline)
			break;
		rc = api.next_batch(s, h, &n, &evts);
		if (rc == SS_PLUGIN_TIMEOUT)
			continue;
		if (rc != SS_PLUGIN_SUCCESS && rc != SS_PLUGIN_EOF) {
			printf("ERR\tnext_batch\t%d\t%s\n", rc, api.last_error(s));
			events = -1;
			break;
		}
		for (uint32_t i = 0; i < n; i++) {
			ss_plugin_event_input in = {.evt = evts[i], .evtnum = ++*evtnum, .evtsrc = "ruled"};
			for (int j = 0; j < nf; j++) {
				memset(&xs[j], 0, sizeof(xs[j]));
				xs[j].field_id = fs[j].id;
				xs[j].field = fs[j].name;
				xs[j].arg_key = fs[j].key;
				xs[j].arg_present = fs[j].key != NULL;
				xs[j].ftype = fs[j].type;
				xs[j].flist = fs[j].list;
			}
			ss_plugin_field_extract_input fin = {.num_fields = (uint32_t)nf, .fields = xs};
			if (nf > 0) {
				ss_plugin_rc erc = api.extract(s, &in, &fin);
				if (erc != SS_PLUGIN_SUCCESS) {
					printf("ERR\textract\t%d\t%s\n", erc, api.last_error(s));
					events = -1;
					goto out;
				}
			}
			events++;
			if (!print)
				continue;
			printf("EVT\t%" PRIu64 "\t%" PRIu64 "\n", in.evtnum, evts[i]->ts);
			for (int j = 0; j < nf; j++) {
				printf("F\t%" PRIu64 "\t%s%s%s%s\t%" PRIu64, in.evtnum, fs[j].name,
				       fs[j].key ? "[" : "", fs[j].key ? fs[j].key : "", fs[j].key ? "]" : "", xs[j].res_len);
				for (uint64_t k = 0; k < xs[j].res_len; k++)
					print_value(&xs[j], k);
				printf("\n");
			}
		}
		if (rc == SS_PLUGIN_EOF)
			break;
	}
out:
	free(xs);
	api.close(s, h);
	return events;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: harness SO CONFIG OPEN_PARAMS run|cycles|bench|init ...\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
		return 2;
	}
	api.required_api_version = (fn_str)sym(h, "plugin_get_required_api_version");
	api.init = (fn_init)sym(h, "plugin_init");
	api.destroy = (fn_destroy)sym(h, "plugin_destroy");
	api.last_error = (fn_last_error)sym(h, "plugin_get_last_error");
	api.open = (fn_open)sym(h, "plugin_open");
	api.close = (fn_close)sym(h, "plugin_close");
	api.next_batch = (fn_next_batch)sym(h, "plugin_next_batch");
	api.extract = (fn_extract)sym(h, "plugin_extract_fields");
	printf("API\t%s\n", api.required_api_version());

	const char *mode = argv[4];
	ss_plugin_init_input in = {.config = argv[2]};
	ss_plugin_rc rc = SS_PLUGIN_FAILURE;
	ss_plugin_t *s = api.init(&in, &rc);
	printf("INIT\t%d\t%s\n", rc, rc == SS_PLUGIN_SUCCESS ? "" : (s ? api.last_error(s) : "(null state)"));
	if (rc != SS_PLUGIN_SUCCESS || strcmp(mode, "init") == 0) {
		if (s != NULL)
			api.destroy(s);
		return rc == SS_PLUGIN_SUCCESS ? 0 : 1;
	}

	int first = 5, repeat = 1;
	if (strcmp(mode, "cycles") == 0 || strcmp(mode, "bench") == 0 || strcmp(mode, "live") == 0) {
		if (argc < 6) {
			fprintf(stderr, "%s needs a count\n", mode);
			return 2;
		}
		repeat = atoi(argv[5]);
		first = 6;
	} else if (strcmp(mode, "run") != 0) {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	int nf = argc - first;
	struct field *fs = calloc(nf > 0 ? nf : 1, sizeof(*fs));
	for (int i = 0; i < nf; i++) {
		if (parse_field(argv[first + i], &fs[i]) != 0) {
			fprintf(stderr, "bad field %s\n", argv[first + i]);
			return 2;
		}
	}

	int status = 0;
	uint64_t evtnum = 0;
	if (strcmp(mode, "run") == 0 || strcmp(mode, "live") == 0) {
		double deadline = strcmp(mode, "live") == 0 ? now() + repeat : 0;
		long n = pass(s, argv[3], fs, nf, 1, &evtnum, deadline);
		printf("END\t%ld\n", n);
		status = n < 0;
	} else if (strcmp(mode, "cycles") == 0) {
		for (int c = 0; c < repeat && status == 0; c++) {
			long n = pass(s, argv[3], fs, nf, 0, &evtnum, 0);
			status = n < 0;
			printf("RSS\t%d\t%ld\t%ld\n", c, rss_kb(), n);
		}
	} else {
		long total = 0;
		double t0 = now();
		for (int c = 0; c < repeat && status == 0; c++) {
			long n = pass(s, argv[3], fs, nf, 0, &evtnum, 0);
			status = n < 0;
			total += n;
		}
		double dt = now() - t0;
		printf("BENCH\t%ld\t%.6f\t%.0f\n", total, dt, dt > 0 ? (double)total / dt : 0);
	}
	api.destroy(s);
	free(fs);
	return status;
}
