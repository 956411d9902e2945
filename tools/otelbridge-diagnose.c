/* otelbridge-diagnose: prints the resolved configuration per signal (secrets masked, with the
 * source of each value), tries one empty export to each configured OTLP endpoint, and says in
 * plain words what worked and what did not. Reads the same environment variables as the
 * library. Exit status 0 when every check passed, 1 otherwise. */
#include <otelbridge/otelbridge.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: otelbridge-diagnose\n  Checks the OTEL_* configuration in the environment.\n");
    return 0;
  }
  size_t needed = 0;
  otel_diagnose(NULL, NULL, 0, &needed);
  char *report = malloc(needed ? needed : 1);
  if (!report) return 2;
  int32_t st = otel_diagnose(NULL, report, needed, NULL);
  fputs(report, stdout);
  free(report);
  return st == OTEL_OK ? 0 : 1;
}
