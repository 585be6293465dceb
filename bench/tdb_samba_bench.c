/*
 * tdb_samba_bench: Samba's tdb side of bench/tdb-vs-samba.sh (same workloads and
 * output as smbed's `tdb-bench`, see bench/src/bin/tdb_bench.rs).
 *
 *   tdb_samba_bench single DIR N          N durable single puts (one transaction each)
 *   tdb_samba_bench batch DIR N R         R transactions of N puts
 *   tdb_samba_bench concurrent DIR T M    T processes (tdb locks are per process),
 *                                         M durable puts each, all at once
 *   tdb_samba_bench get DIR K G           K keys loaded, then G random tdb_fetch
 *
 * Durable means what Samba does for its persistent databases (passdb.tdb,
 * secrets.tdb): a transaction per change, opened without TDB_NOSYNC, so
 * tdb_transaction_commit() syncs (fdatasync + msync) before returning.
 * The hash size is 10007 (more chains than keys: the most favourable setting
 * for tdb's lookups); locking is tdb's default fcntl locking.
 *
 * Build: gcc -O2 -o tdb_samba_bench tdb_samba_bench.c -ltdb   (Debian: libtdb-dev)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <tdb.h>
#include <time.h>
#include <unistd.h>

#define KEY_LEN 24
#define VALUE_LEN 200
#define HASH_SIZE 10007

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void key(uint64_t i, unsigned char *k)
{
	char s[KEY_LEN + 1];
	snprintf(s, sizeof s, "key-%020llu", (unsigned long long)i);
	memcpy(k, s, KEY_LEN);
}

static void value(uint64_t i, unsigned char *v)
{
	for (int j = 0; j < VALUE_LEN; j++)
		v[j] = (unsigned char)(((uint8_t)i + (uint8_t)j) | 0x20);
}

struct io { unsigned long long wchar, syscw, write_bytes; };

static struct io proc_io(void)
{
	struct io r = {0, 0, 0};
	char name[64];
	unsigned long long v;
	FILE *f = fopen("/proc/self/io", "r");
	if (!f)
		return r;
	while (fscanf(f, "%63[^:]: %llu\n", name, &v) == 2) {
		if (!strcmp(name, "wchar")) r.wchar = v;
		else if (!strcmp(name, "syscw")) r.syscw = v;
		else if (!strcmp(name, "write_bytes")) r.write_bytes = v;
	}
	fclose(f);
	return r;
}

static void print_io(const char *p, struct io a, struct io b, double n)
{
	printf("%s_proc_wchar_per_commit=%.0f\n", p, (b.wchar - a.wchar) / n);
	printf("%s_proc_syscw_per_commit=%.2f\n", p, (b.syscw - a.syscw) / n);
	printf("%s_proc_write_bytes_per_commit=%.0f\n", p, (b.write_bytes - a.write_bytes) / n);
}

/* (bytes written, flush requests) of the device named by BENCH_DEV_STAT. */
static int dev_stat(unsigned long long *bytes, unsigned long long *flushes)
{
	const char *path = getenv("BENCH_DEV_STAT");
	unsigned long long f[17] = {0};
	if (!path)
		return 0;
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 0;
	int n = 0;
	while (n < 17 && fscanf(fp, "%llu", &f[n]) == 1)
		n++;
	fclose(fp);
	if (n < 16)
		return 0;
	*bytes = f[6] * 512;
	*flushes = f[15];
	return 1;
}

static void print_dev(const char *p, int ok, unsigned long long b0, unsigned long long f0, double n)
{
	unsigned long long b1, f1;
	if (ok && dev_stat(&b1, &f1)) {
		printf("%s_dev_bytes_per_commit=%.0f\n", p, (b1 - b0) / n);
		printf("%s_dev_flushes_per_commit=%.3f\n", p, (f1 - f0) / n);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *sorted, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)((n - 1) * p + 0.5);
	return sorted[i < n ? i : n - 1];
}

static void die(const char *what, struct tdb_context *tdb)
{
	fprintf(stderr, "tdb_samba_bench: %s: %s\n", what,
		tdb ? tdb_errorstr(tdb) : strerror(errno));
	exit(1);
}

static struct tdb_context *open_db(const char *dir, const char *phase, int create)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s.tdb", dir, phase);
	if (create)
		unlink(path);
	struct tdb_context *tdb = tdb_open(path, HASH_SIZE, TDB_DEFAULT, O_RDWR | O_CREAT, 0600);
	if (!tdb)
		die(path, NULL);
	return tdb;
}

static void put_durable(struct tdb_context *tdb, uint64_t id)
{
	unsigned char k[KEY_LEN], v[VALUE_LEN];
	key(id, k);
	value(id, v);
	TDB_DATA kd = {k, KEY_LEN}, vd = {v, VALUE_LEN};
	if (tdb_transaction_start(tdb) != 0)
		die("transaction_start", tdb);
	if (tdb_store(tdb, kd, vd, TDB_REPLACE) != 0)
		die("store", tdb);
	if (tdb_transaction_commit(tdb) != 0)
		die("transaction_commit", tdb);
}

static void single(const char *dir, uint64_t n)
{
	struct tdb_context *tdb = open_db(dir, "single", 1);
	for (uint64_t i = 0; i < 10; i++)
		put_durable(tdb, 1000000 + i);
	double *lat = malloc(n * sizeof *lat);
	unsigned long long db, df;
	int dev = dev_stat(&db, &df);
	struct io a = proc_io();
	double start = now_us();
	for (uint64_t i = 0; i < n; i++) {
		double t0 = now_us();
		put_durable(tdb, i);
		lat[i] = now_us() - t0;
	}
	double total = now_us() - start;
	struct io b = proc_io();
	print_dev("single", dev, db, df, n);
	qsort(lat, n, sizeof *lat, cmp_double);
	printf("single_n=%llu\n", (unsigned long long)n);
	printf("single_p50_us=%.1f\n", percentile(lat, n, 0.5));
	printf("single_p99_us=%.1f\n", percentile(lat, n, 0.99));
	printf("single_mean_us=%.1f\n", total / n);
	print_io("single", a, b, n);
	tdb_close(tdb);
}

static void batch(const char *dir, uint64_t n, uint64_t reps)
{
	struct tdb_context *tdb = open_db(dir, "batch", 1);
	double *times = malloc(reps * sizeof *times);
	unsigned char k[KEY_LEN], v[VALUE_LEN];
	struct io a = proc_io();
	for (uint64_t r = 0; r < reps; r++) {
		double t0 = now_us();
		if (tdb_transaction_start(tdb) != 0)
			die("transaction_start", tdb);
		for (uint64_t i = 0; i < n; i++) {
			uint64_t id = r * n + i;
			key(id, k);
			value(id, v);
			TDB_DATA kd = {k, KEY_LEN}, vd = {v, VALUE_LEN};
			if (tdb_store(tdb, kd, vd, TDB_REPLACE) != 0)
				die("store", tdb);
		}
		if (tdb_transaction_commit(tdb) != 0)
			die("transaction_commit", tdb);
		times[r] = now_us() - t0;
	}
	struct io b = proc_io();
	qsort(times, reps, sizeof *times, cmp_double);
	double median = percentile(times, reps, 0.5);
	printf("batch_n=%llu\nbatch_reps=%llu\n", (unsigned long long)n, (unsigned long long)reps);
	printf("batch_median_ms=%.3f\n", median / 1000);
	printf("batch_us_per_put=%.3f\n", median / n);
	print_io("batch", a, b, reps);
	tdb_close(tdb);
}

static void concurrent(const char *dir, uint64_t procs, uint64_t per)
{
	/* Create the file once, then every process opens it itself. */
	tdb_close(open_db(dir, "concurrent", 1));
	size_t n = procs * per;
	double *lat = mmap(NULL, n * sizeof *lat, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct io *ios = mmap(NULL, procs * 2 * sizeof *ios, PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED || ios == MAP_FAILED)
		die("mmap", NULL);
	int ready[2], go[2];
	if (pipe(ready) || pipe(go))
		die("pipe", NULL);
	for (uint64_t p = 0; p < procs; p++) {
		pid_t pid = fork();
		if (pid < 0)
			die("fork", NULL);
		if (pid == 0) {
			close(ready[0]);
			close(go[1]);
			struct tdb_context *tdb = open_db(dir, "concurrent", 0);
			char c = 1;
			if (write(ready[1], &c, 1) != 1)
				die("write", NULL);
			if (read(go[0], &c, 1) < 0) /* EOF: go */
				die("read", NULL);
			ios[2 * p] = proc_io();
			for (uint64_t i = 0; i < per; i++) {
				double t0 = now_us();
				put_durable(tdb, p * per + i);
				lat[p * per + i] = now_us() - t0;
			}
			ios[2 * p + 1] = proc_io();
			tdb_close(tdb);
			_exit(0);
		}
	}
	close(ready[1]);
	close(go[0]);
	char c;
	for (uint64_t p = 0; p < procs; p++)
		if (read(ready[0], &c, 1) != 1)
			die("a writer died before starting", NULL);
	unsigned long long db, df;
	int dev = dev_stat(&db, &df);
	double start = now_us();
	close(go[1]);
	int failed = 0, status;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	double total = now_us() - start;
	print_dev("conc", dev, db, df, n);
	if (failed) {
		fprintf(stderr, "tdb_samba_bench: a writer failed\n");
		exit(1);
	}
	struct io a = {0, 0, 0}, b = {0, 0, 0};
	for (uint64_t p = 0; p < procs; p++) {
		b.wchar += ios[2 * p + 1].wchar - ios[2 * p].wchar;
		b.syscw += ios[2 * p + 1].syscw - ios[2 * p].syscw;
		b.write_bytes += ios[2 * p + 1].write_bytes - ios[2 * p].write_bytes;
	}
	qsort(lat, n, sizeof *lat, cmp_double);
	printf("conc_writers=%llu\nconc_puts=%zu\n", (unsigned long long)procs, n);
	printf("conc_puts_per_s=%.0f\n", n / (total / 1e6));
	printf("conc_p50_us=%.1f\n", percentile(lat, n, 0.5));
	printf("conc_p99_us=%.1f\n", percentile(lat, n, 0.99));
	print_io("conc", a, b, n);
}

static void get(const char *dir, uint64_t keys, uint64_t gets)
{
	struct tdb_context *tdb = open_db(dir, "get", 1);
	unsigned char k[KEY_LEN], v[VALUE_LEN];
	for (uint64_t i = 0; i < keys; i++) {
		if (i % 1000 == 0 && tdb_transaction_start(tdb) != 0)
			die("transaction_start", tdb);
		key(i, k);
		value(i, v);
		TDB_DATA kd = {k, KEY_LEN}, vd = {v, VALUE_LEN};
		if (tdb_store(tdb, kd, vd, TDB_REPLACE) != 0)
			die("store", tdb);
		if ((i % 1000 == 999 || i + 1 == keys) && tdb_transaction_commit(tdb) != 0)
			die("transaction_commit", tdb);
	}
	/* xorshift64*, same seed and key sequence as tdb-bench. */
	uint64_t x = 0x9E3779B97F4A7C15ULL;
	unsigned char *ids = malloc(gets * KEY_LEN);
	for (uint64_t i = 0; i < gets; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		key((x * 0x2545F4914F6CDD1DULL) % keys, ids + i * KEY_LEN);
	}
	uint64_t found = 0, bytes = 0;
	double start = now_us();
	for (uint64_t i = 0; i < gets; i++) {
		TDB_DATA kd = {ids + i * KEY_LEN, KEY_LEN};
		TDB_DATA d = tdb_fetch(tdb, kd);
		if (d.dptr) {
			found++;
			bytes += d.dsize;
			free(d.dptr);
		}
	}
	double total = now_us() - start;
	if (found != gets || bytes != gets * VALUE_LEN) {
		fprintf(stderr, "tdb_samba_bench: get: found %llu of %llu\n",
			(unsigned long long)found, (unsigned long long)gets);
		exit(1);
	}
	printf("get_keys=%llu\nget_n=%llu\n", (unsigned long long)keys, (unsigned long long)gets);
	printf("get_ns=%.1f\n", total * 1000 / gets);
	tdb_close(tdb);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tdb_samba_bench single|batch|concurrent|get DIR ARGS...\n");
		return 2;
	}
	const char *dir = argv[2];
	uint64_t a = strtoull(argv[3], NULL, 10);
	uint64_t b = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
	if (!strcmp(argv[1], "single"))
		single(dir, a);
	else if (!strcmp(argv[1], "batch"))
		batch(dir, a, b);
	else if (!strcmp(argv[1], "concurrent"))
		concurrent(dir, a, b);
	else if (!strcmp(argv[1], "get"))
		get(dir, a, b);
	else {
		fprintf(stderr, "unknown phase %s\n", argv[1]);
		return 2;
	}
	return 0;
}
