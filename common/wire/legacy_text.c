// SPDX-License-Identifier: MPL-2.0
/*  legacy_text: tcpWinSink's report format, byte for byte.

    The original formatted with "%s\t%u\t%f" from a float ratio and the
    date with "%a %d %b %Y %X" from the C library in the C locale; we keep
    exactly that so an old reader on port 5555 sees no difference. Unlike the
    original there is no fixed buffer: the text grows with the table.
*/
#include "legacy_text.h"

#include "ip_text.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  An address that is neither IPv4 nor IPv6 (a hostile producer) shows as "?".
static const char *s_ip_text(const ProtobufCBinaryData *ip, char *buf, size_t size)
{
    if (!tw_ip_format(ip->data, ip->len, buf, size))
        snprintf(buf, size, "?");
    return buf;
}

//  The date line in the C locale, independent of the process locale: the
//  programs never call setlocale(), but a library linked in might have.
static void s_format_date(int64_t time_us, char *buf, size_t size)
{
    time_t seconds = (time_t)(time_us / 1000000);
    if (time_us < 0 && time_us % 1000000)
        seconds -= 1;
    struct tm local;
    locale_t c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    if (!localtime_r(&seconds, &local) || !c_locale ||
        strftime_l(buf, size, "%a %d %b %Y %X", &local, c_locale) == 0)
        snprintf(buf, size, "%lld", (long long)seconds);
    if (c_locale)
        freelocale(c_locale);
}

int tw_legacy_text_write(FILE *out, const Tcpwin__Report *report)
{
    if (report->n_hosts == 0)
        return 0;
    char date[128];
    s_format_date(report->time_us, date, sizeof date);
    long total = 0;
    int n = fprintf(out, "# %s\n# IP\tpktTcpCnt\twinRelThCnt\n", date);
    if (n < 0)
        return -EIO;
    total += n;
    for (size_t i = 0; i < report->n_hosts; i++) {
        const Tcpwin__HostRow *row = report->hosts[i];
        char ip[TW_IP_TEXT_SIZE];
        n = fprintf(out, "%s\t%u\t%f\n", s_ip_text(&row->ip, ip, sizeof ip), row->pkt_tcp_cnt,
                    row->win_rel_th_cnt);
        if (n < 0)
            return -EIO;
        total += n;
    }
    if (fputc('\n', out) == EOF)
        return -EIO;
    return (int)(total + 1);
}

char *tw_legacy_text_render(const Tcpwin__Report *report, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (!out)
        return NULL;
    int rc = tw_legacy_text_write(out, report);
    if (fclose(out) != 0 || rc < 0) {
        free(text);
        return NULL;
    }
    return text;
}
