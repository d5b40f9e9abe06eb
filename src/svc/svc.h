/* svc.h - the services of socle, opened, registered and closed together.
 *
 * Each service (svc/<name>/) has its own public header; this one only sequences them so that the
 * program (cli/) has one call for each stage. Services are opened after the foundation (store,
 * FHIR tables, audit trail, policy engine) and before the server starts; they add their tables,
 * policy rules, write hooks and routes. */
#ifndef SOCLE_SVC_SVC_H
#define SOCLE_SVC_SVC_H

#include "rest/rest.h"

/* svc_open - open every service on app (sets app->services). On failure, what was opened is closed. */
int svc_open(socle_app *app, socle_err *err);
/* svc_register - add every service's routes. */
int svc_register(socle_app *app, http_router *router);
/* svc_start - start what services serve outside HTTP (the MSSanté SMTP and IMAP listeners, the
 * relay worker), once the HTTP server is up. */
int svc_start(socle_app *app, socle_err *err);
/* svc_stop - stop them (sessions end, workers join); before svc_close. Safe when never started. */
void svc_stop(socle_app *app);
/* svc_mss - the MSSanté service, for its subcommands; NULL before svc_open. */
struct mss_service *svc_mss(socle_app *app);
/* svc_close - close every service (flushes their pending state). Safe when svc_open failed or was
 * never called. */
void svc_close(socle_app *app);

#endif
