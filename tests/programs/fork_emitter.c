/* fork_emitter PATH N: the prefork pattern. The parent emits N records that are still queued
 * when it forks 4 children; each child emits N records of its own and exits normally (exit(),
 * no explicit shutdown). The file at PATH must end up with exactly 5*N distinct records: the
 * parent's exported once, by the parent, and each child's by the child. */
#include <otelbridge/otelbridge.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void emit_n(otel_scope *scope, const char *who, int n) {
  char body[64];
  for (int i = 0; i < n; i++) {
    int len = snprintf(body, sizeof body, "%s-%d", who, i);
    otel_value v = otel_value_str((otel_str){body, (size_t)len});
    int32_t st = otel_log_emit(scope, 0, 0, OTEL_SEVERITY_INFO, otel_cstr("INFO"), &v, NULL, 0,
                               otel_cstr(""), NULL);
    if (st != OTEL_OK) {
      fprintf(stderr, "%s: emit: %s\n", who, otel_status_str(st));
      exit(3);
    }
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fork_emitter PATH N\n");
    return 2;
  }
  int n = atoi(argv[2]);
  otel_config *cfg;
  otel_config_new(&cfg);
  otel_config_set(cfg, otel_cstr("OTEL_LOGS_EXPORTER"), otel_cstr("file"), NULL, 0);
  otel_config_set(cfg, otel_cstr("OTELBRIDGE_FILE_PATH"), otel_cstr(argv[1]), NULL, 0);
  otel_config_set(cfg, otel_cstr("OTEL_BLRP_SCHEDULE_DELAY"), otel_cstr("60000"), NULL, 0);
  otel_config_set(cfg, otel_cstr("OTEL_BLRP_MAX_QUEUE_SIZE"), otel_cstr("100000"), NULL, 0);
  otel_config_set(cfg, otel_cstr("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"), otel_cstr("100000"), NULL, 0);
  char err[256];
  if (otel_init(cfg, err, sizeof err) != OTEL_OK) {
    fprintf(stderr, "init: %s\n", err);
    return 1;
  }
  otel_config_free(cfg);
  otel_scope *scope;
  otel_scope_get(NULL, otel_cstr("fork"), otel_cstr(""), otel_cstr(""), NULL, 0, &scope);

  emit_n(scope, "parent", n); /* still queued: the schedule delay is a minute */
  pid_t kids[4];
  for (int k = 0; k < 4; k++) {
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
      char who[32];
      snprintf(who, sizeof who, "child%d", k);
      emit_n(scope, who, n);
      exit(0); /* atexit flushes the child's own records */
    }
    kids[k] = pid;
  }
  int failed = 0;
  for (int k = 0; k < 4; k++) {
    int status;
    waitpid(kids[k], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = 1;
  }
  int32_t st = otel_engine_shutdown(NULL, 10000);
  if (st != OTEL_OK) fprintf(stderr, "shutdown: %s\n", otel_status_str(st));
  printf("parent_pid=%d\n", (int)getpid());
  return failed || st != OTEL_OK;
}
