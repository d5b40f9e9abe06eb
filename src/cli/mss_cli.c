/* mss_cli.c - the operator's commands of the MSSanté service (svc/mss/mss.h):
 *   socle mss mailbox add --kind PER|ORG|APP|CAB|CIT --owner ID [--address A] [--display D] [--password P]
 *   socle mss mailbox list
 * The owner is checked (directory, qualified INS) before the mailbox is created; the password,
 * when given, is stored as an Argon2id hash and is only accepted when mss_allow_password is on. */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/app.h"
#include "cli/mss_cli.h"
#include "svc/mss/mss.h"
#include "svc/svc.h"

#define MSS_USAGE                                                                                            \
    "usage: socle mss mailbox add --kind PER|ORG|APP|CAB|CIT --owner ID [--address LOCAL@DOMAIN]\n"        \
    "         [--display NAME] [--password P] [--mss-domain D] [--data DIR] [--db URL]\n"                     \
    "       socle mss mailbox list [--data DIR] [--db URL]\n"                                                 \
    "  owner: the IDNPS of the professional (PER), the FINESS or IDNST of the structure (ORG APP CAB),\n" \
    "         the INS matricule of the patient (CIT: the address is <INS>@<citizen domain>)\n"

int cli_mss(int argc, char **argv)
{
    int add = argc >= 2 && !strcmp(argv[0], "mailbox") && !strcmp(argv[1], "add");
    int list = argc >= 2 && !strcmp(argv[0], "mailbox") && !strcmp(argv[1], "list");
    if (!add && !list) {
        fputs(MSS_USAGE, stderr);
        return 2;
    }
    socle_config *cfg = app_load_config(argc - 2, argv + 2, "address|kind|owner|display|password");
    if (!cfg) return 2;
    socle_app app;
    socle_err err;
    if (app_open(&app, cfg, APP_ALL, &err)) {
        fprintf(stderr, "socle mss: %s\n", err.msg);
        config_free(cfg);
        return 1;
    }
    int rc;
    if (add) {
        mss_mailbox_spec spec = {.address = config_extra(cfg, "address"),
                                 .kind = config_extra(cfg, "kind"),
                                 .owner = config_extra(cfg, "owner"),
                                 .display = config_extra(cfg, "display"),
                                 .password = config_extra(cfg, "password")};
        char address[256];
        rc = mss_mailbox_add(svc_mss(&app), &spec, address, sizeof address, &err);
        if (!rc) {
            audit_event e = {.action = "mss-mailbox-add", .outcome = "success", .agent_kind = "system",
                             .agent_id = "socle-mss", .resource_type = "MSSMailbox", .resource_id = address};
            audit_append(app.audit, &e);
            printf("%s\n", address);
        }
    } else {
        rc = mss_mailbox_list(svc_mss(&app), stdout, &err);
    }
    if (rc) fprintf(stderr, "socle mss: %s\n", err.msg);
    app_close(&app);
    config_free(cfg);
    return rc == SOCLE_EINVAL ? 2 : rc ? 1 : 0;
}
