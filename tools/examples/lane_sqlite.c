/* A blocking library behind a one-thread lane: SQLite (one connection, used from one thread)
 * gets its own pool of one worker, so its calls never stall the loop or starve other offloads.
 * Each query has a timeout; a cancelled query is interrupted with sqlite3_interrupt (the job's
 * unblock callback) rather than abandoned, so the statement is never left running.
 *
 *   example-lane_sqlite        (an in-memory database; built when libsqlite3-dev is present) */
#include <errno.h>
#include <stdio.h>
#include <sqlite3.h>
#include <tothread.h>

typedef struct query {
    sqlite3 *db;
    const char *sql;
    long long answer;
} query;

/* Blocking, on the lane's thread: run sql, keep the first column of the last row. */
static intptr_t run_query(void *arg)
{
    query *q = arg;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(q->db, q->sql, -1, &st, NULL) != SQLITE_OK)
        return -EINVAL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        q->answer = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : rc == SQLITE_INTERRUPT ? -ECANCELED : -EIO;
}

/* Runs on the loop's thread when a running query is cancelled: makes sqlite3_step return. */
static void interrupt_query(void *arg)
{
    sqlite3_interrupt(((query *)arg)->db);
}

static tt_pool *lane;

/* A query on the lane with a deadline: -ETIMEDOUT once it has really stopped. */
static intptr_t lane_query(query *q, int64_t timeout)
{
    tt_job_opts opts = {.unblock = interrupt_query};
    return tt_wait_for(tt_to_thread_on(lane, &opts, run_query, q), timeout);
}

static intptr_t main_task(void *arg)
{
    sqlite3 *db = arg;
    query create = {db, "CREATE TABLE t(x)", 0};
    query insert = {db, "INSERT INTO t VALUES (1), (2), (3)", 0};
    query sum = {db, "SELECT sum(x) FROM t", 0};
    /* a recursive query that would run for minutes */
    query slow = {db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c) "
                      "SELECT count(*) FROM c", 0};
    intptr_t rc = lane_query(&create, TT_SEC(5));
    if (rc == 0)
        rc = lane_query(&insert, TT_SEC(5));
    if (rc < 0)
        return rc;
    /* queries only run one at a time on the lane, but the loop stays free meanwhile */
    rc = lane_query(&sum, TT_SEC(5));
    printf("sum: %s, %lld\n", tt_strerror(rc), sum.answer);
    int64_t start = tt_now();
    rc = lane_query(&slow, TT_MS(200));
    printf("slow query: %s after %lld ms (interrupted, then the lane was free again)\n",
           tt_strerror(rc), (long long)((tt_now() - start) / TT_MS(1)));
    if (rc != -ETIMEDOUT)
        return -EPROTO;
    rc = lane_query(&sum, TT_SEC(5));
    printf("sum again: %s, %lld\n", tt_strerror(rc), sum.answer);
    return rc;
}

int main(void)
{
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return 1;
    tt_pool_opts po = {.min_threads = 0, .max_threads = 1, .name = "sqlite"};
    lane = tt_pool_new(&po);
    intptr_t result = 0;
    int rc = lane != NULL ? tt_run(main_task, db, &result) : -errno;
    tt_pool_free(lane);
    sqlite3_close(db);
    if (rc < 0 || result < 0) {
        fprintf(stderr, "lane_sqlite: %s\n", tt_strerror(rc < 0 ? rc : result));
        return 1;
    }
    return 0;
}
