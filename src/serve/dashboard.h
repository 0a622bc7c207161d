/*
 * dashboard.h - the monitoring dashboard page, embedded in the binary.
 *
 * The bytes are src/serve/dashboard.html, turned into a C array at build
 * time by cmake/embed.cmake (the generated source lives in the build tree,
 * gen/dashboard_html.c). The page is one self-contained HTML document
 * (inline CSS and JS, no external requests) that polls GET /v2/monitor;
 * docs/dashboard.md describes what it shows and how it computes it.
 *
 * Served as GET /dashboard with "Content-Type: text/html; charset=utf-8"
 * and the Content-Security-Policy given in docs/dashboard.md. Both symbols
 * are immutable, static-lifetime data: safe to read from any thread.
 */
#ifndef AXLE_SERVE_DASHBOARD_H
#define AXLE_SERVE_DASHBOARD_H

#include <stddef.h>

/* The page, UTF-8. axle_dashboard_html_len bytes, followed by one NUL that
 * is not part of the page (so the array is also a C string). */
extern const unsigned char axle_dashboard_html[];
/* Length of the page in bytes, without the trailing NUL. */
extern const size_t axle_dashboard_html_len;

#endif
