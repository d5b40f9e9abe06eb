/* report.c - the reports the operator writes itself: delivery status notifications (RFC 3464,
 * multipart/report; report-type=delivery-status) when a message cannot reach another operator,
 * and message disposition notifications (RFC 8098) when the sender asked for one
 * (Disposition-Notification-To). Both come from MAILER-DAEMON with a null reverse path. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/ids.h"
#include "svc/mss/mss_internal.h"

void mss_date(char *out, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, n, "%a, %d %b %Y %H:%M:%S +0000", &tm);
}

/* report_head - the header shared by both reports. */
static void report_head(mss_service *svc, const char *from, const char *to, const char *subject, const char *report_type,
                        const char *boundary, socle_buf *out)
{
    char date[64], id[40];
    mss_date(date, sizeof date);
    id_uuid(id);
    buf_printf(out,
               "From: %s\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nAuto-Submitted: auto-replied\r\n"
               "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n\r\n",
               from, to, subject, date, id, svc->domain, report_type, boundary);
}

/* report_xtext_decode - RFC 3461 section 4: "+XX" back to its character (controls left out). */
static void report_xtext_decode(const char *x, socle_buf *out)
{
    for (const char *p = x; *p; p++) {
        if (*p == '+' && isxdigit((unsigned char)p[1]) && isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            int ch = (int)strtol(hex, NULL, 16);
            if (ch >= 32 && ch != 127) buf_putc(out, (char)ch);
            p += 2;
        } else {
            buf_putc(out, *p);
        }
    }
}

void mss_dsn(mss_service *svc, const char *sender, const char *recipient, const char *orcpt, const char *action,
             const char *status, const char *diagnostic, const char *msg, size_t len, const char *envid,
             socle_buf *out)
{
    char from[300], boundary[64], id[40];
    snprintf(from, sizeof from, "Mail Delivery System <MAILER-DAEMON@%s>", svc->domain);
    id_uuid(id);
    snprintf(boundary, sizeof boundary, "dsn-%s", id);
    int relayed = !strcmp(action, "relayed"), failed = !relayed && strcmp(action, "delivered") != 0;
    report_head(svc, from, sender,
                failed    ? "Undelivered Mail Returned to Sender"
                : relayed ? "Relayed Mail Delivery Report"
                          : "Successful Mail Delivery Report",
                "delivery-status", boundary, out);
    buf_printf(out,
               "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               "Your message %s <%s>%s.\r\n%s%s\r\n\r\n",
               boundary,
               failed    ? "could not be delivered to"
               : relayed ? "was handed to the operator of"
                         : "was delivered to the mailbox",
               recipient, relayed ? ", whose server sends no delivery notifications" : "",
               diagnostic ? "The other operator answered: " : "", diagnostic ? diagnostic : "");
    buf_printf(out, "--%s\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; %s\r\n", boundary,
               svc->domain);
    if (envid && *envid) buf_printf(out, "Original-Envelope-Id: %s\r\n", envid);
    buf_puts(out, "\r\n");
    const char *semi = orcpt ? strchr(orcpt, ';') : NULL;
    if (semi) { /* RFC 3464 section 2.3.1: addr-type ";" the address, decoded */
        buf_printf(out, "Original-Recipient: %.*s;", (int)(semi - orcpt), orcpt);
        report_xtext_decode(semi + 1, out);
        buf_puts(out, "\r\n");
    }
    buf_printf(out, "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n", recipient, action, status);
    if (diagnostic && *diagnostic) {
        buf_puts(out, "Diagnostic-Code: smtp; ");
        for (const char *p = diagnostic; *p; p++)
            if (*p != '\r' && *p != '\n') buf_putc(out, *p);
        buf_puts(out, "\r\n");
    }
    /* The original's header only: the content may be health data the sender already has. */
    const char *end = memmem(msg, len, "\r\n\r\n", 4);
    size_t hl = end ? (size_t)(end - msg) + 2 : len;
    buf_printf(out, "\r\n--%s\r\nContent-Type: text/rfc822-headers\r\n\r\n", boundary);
    buf_append(out, msg, hl);
    buf_printf(out, "\r\n--%s--\r\n", boundary);
}

void mss_mdn(mss_service *svc, const char *recipient, const char *sender, const char *message_id, socle_buf *out)
{
    char from[300], boundary[64], id[40];
    snprintf(from, sizeof from, "<%s>", recipient);
    id_uuid(id);
    snprintf(boundary, sizeof boundary, "mdn-%s", id);
    report_head(svc, from, sender, "Disposition notification: processed", "disposition-notification", boundary, out);
    buf_printf(out,
               "--%s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               "The message sent to <%s> was received and processed by its mailbox.\r\n\r\n"
               "--%s\r\nContent-Type: message/disposition-notification\r\n\r\n"
               "Reporting-UA: %s; socle\r\nFinal-Recipient: rfc822; %s\r\n",
               boundary, recipient, boundary, svc->domain, recipient);
    if (message_id && *message_id) buf_printf(out, "Original-Message-ID: %s\r\n", message_id);
    buf_printf(out, "Disposition: automatic-action/MDN-sent-automatically; processed\r\n\r\n--%s--\r\n", boundary);
}
