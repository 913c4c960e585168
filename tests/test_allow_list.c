// SPDX-License-Identifier: MPL-2.0
/*  test_allow_list: the CURVE allow list on a real scratch directory:
    certificates written by czmq, copies and symlinks of them, a revoked/
    subdirectory, garbage and oversized files, and reloads driven by the
    time given to refresh.
*/
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <czmq.h>

#include "allow_list.h"

typedef struct {
    char dir[64];      // the scratch directory
    char allow[96];    // dir/allow, the directory under test
    char keys[3][41];  // three public keys, certificates in dir/cert0..2
} fixture;

static int s_setup(void **state)
{
    zsys_handler_set(NULL);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_allow_list.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->allow, sizeof f->allow, "%s/allow", f->dir);
    assert_int_equal(mkdir(f->allow, 0700), 0);
    for (int i = 0; i < 3; i++) {
        zcert_t *cert = zcert_new();
        assert_non_null(cert);
        char path[128];
        snprintf(path, sizeof path, "%s/cert%d", f->dir, i);
        assert_int_equal(zcert_save(cert, path), 0);
        strcpy(f->keys[i], zcert_public_txt(cert));
        zcert_destroy(&cert);
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *f = *state;
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
    free(f);
    return 0;
}

//  Copies cert I's public file to allow/NAME.
static void s_copy(fixture *f, int i, const char *name)
{
    char from[128], to[160];
    snprintf(from, sizeof from, "%s/cert%d", f->dir, i);
    snprintf(to, sizeof to, "%s/%s", f->allow, name);
    zfile_t *file = zfile_new(NULL, from);
    assert_non_null(file);
    assert_int_equal(zfile_input(file), 0);
    zchunk_t *chunk = zfile_read(file, 65536, 0);
    assert_non_null(chunk);
    FILE *out = fopen(to, "w");
    assert_non_null(out);
    assert_int_equal(fwrite(zchunk_data(chunk), 1, zchunk_size(chunk), out), zchunk_size(chunk));
    assert_int_equal(fclose(out), 0);
    zchunk_destroy(&chunk);
    zfile_destroy(&file);
}

//  Writes text as allow/NAME.
static void s_write(fixture *f, const char *name, const char *text, size_t size)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->allow, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    assert_int_equal(fwrite(text, 1, size, out), size);
    assert_int_equal(fclose(out), 0);
}

static void s_path(fixture *f, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", f->allow, name);
}

//  One certificate in, the others out; a key that is not 40 characters or
//  NULL is out.
static void test_loads_a_certificate(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "dashboard");
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 1);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    assert_false(tw_allow_list_has(list, f->keys[1]));
    assert_false(tw_allow_list_has(list, "short"));
    assert_false(tw_allow_list_has(list, NULL));
    tw_allow_list_destroy(&list);
    assert_null(list);
    tw_allow_list_destroy(&list);  // harmless
}

//  zcertstore asserted (exit 134) on both: a backup copy and a symlink.
static void test_duplicates_are_one_key(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "dashboard");
    s_copy(f, 0, "dashboard.old");
    char link[160];
    s_path(f, "dashboard-link", link, sizeof link);
    assert_int_equal(symlink("dashboard", link), 0);
    s_copy(f, 1, "other");
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 2);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    assert_true(tw_allow_list_has(list, f->keys[1]));
    tw_allow_list_destroy(&list);
}

//  Counts the lines of the file at path that contain text.
static int s_count_lines(const char *path, const char *text)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[1024];
    int count = 0;
    while (fgets(line, sizeof line, in))
        count += strstr(line, text) != NULL;
    assert_int_equal(fclose(in), 0);
    return count;
}

//  A duplicate is a warning logged once, not at every reload.
static void test_duplicate_logged_once(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "dashboard");
    s_copy(f, 0, "dashboard.old");
    char log[96];
    snprintf(log, sizeof log, "%s/stderr", f->dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    assert_true(dup2(fd, STDERR_FILENO) >= 0);
    tw_allow_list *list = tw_allow_list_new(f->allow);
    s_copy(f, 1, "other");  // a change: everything is read again
    int changed = list ? tw_allow_list_refresh(list, 0) : -1;
    int again = list ? tw_allow_list_refresh(list, TW_ALLOW_LIST_CHECK_MS) : -1;
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    assert_int_equal(close(saved), 0);
    assert_int_equal(close(fd), 0);
    assert_non_null(list);
    assert_int_equal(changed, 1);
    assert_int_equal(again, 0);
    assert_int_equal(tw_allow_list_size(list), 2);
    assert_int_equal(s_count_lines(log, "/dashboard.old' holds the same key as 'dashboard'"), 1);
    tw_allow_list_destroy(&list);
}

//  Subdirectories are not read (revoked/ means revoked), nor is a symlink to
//  one, nor secret or hidden files; a symlink to a certificate outside is.
static void test_top_level_regular_files_only(void **state)
{
    fixture *f = *state;
    char path[160], target[128];
    s_path(f, "revoked", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    s_copy(f, 0, "revoked/dashboard");
    s_path(f, "to-dir", path, sizeof path);
    assert_int_equal(symlink(f->dir, path), 0);  // dir holds cert0..2 itself
    s_copy(f, 1, "stranger_secret");
    s_copy(f, 1, ".stranger.swp");
    snprintf(target, sizeof target, "%s/cert2", f->dir);
    s_path(f, "outside", path, sizeof path);
    assert_int_equal(symlink(target, path), 0);
    s_path(f, "dangling", path, sizeof path);
    assert_int_equal(symlink("/nonexistent/x", path), 0);
    s_path(f, "fifo", path, sizeof path);
    assert_int_equal(mkfifo(path, 0600), 0);
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 1);
    assert_false(tw_allow_list_has(list, f->keys[0]));
    assert_false(tw_allow_list_has(list, f->keys[1]));
    assert_true(tw_allow_list_has(list, f->keys[2]));
    tw_allow_list_destroy(&list);
}

//  Garbage is skipped, the good certificate beside it still counts.
static void test_garbage_is_skipped(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "good");
    s_write(f, "empty", "", 0);
    s_write(f, "binary", "curve\n    public-key = \"\0\"\n", 27);
    s_write(f, "short-key", "curve\n    public-key = \"abc\"\n", 29);
    // 40 characters, but '~' is not Z85.
    const char *bad = "curve\n    public-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"\n";
    s_write(f, "bad-z85", bad, strlen(bad));
    char text[256];
    // A key in the wrong section, at the wrong depth, or unterminated.
    int n = snprintf(text, sizeof text, "metadata\n    public-key = \"%s\"\n", f->keys[1]);
    s_write(f, "wrong-section", text, (size_t)n);
    n = snprintf(text, sizeof text, "curve\n        public-key = \"%s\"\n", f->keys[1]);
    s_write(f, "too-deep", text, (size_t)n);
    n = snprintf(text, sizeof text, "curve\n    public-key = \"%s\n", f->keys[1]);
    s_write(f, "no-quote", text, (size_t)n);
    n = snprintf(text, sizeof text, "curve\n    public-key = \"%s\" junk\n", f->keys[1]);
    s_write(f, "junk-after", text, (size_t)n);
    n = snprintf(text, sizeof text, "curve\n    public-key = \"%s\"\n    public-key = \"%s\"\n",
                 f->keys[1], f->keys[2]);
    s_write(f, "two-keys", text, (size_t)n);
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 1);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    tw_allow_list_destroy(&list);
}

//  zconfig's other spellings of the value, and a Windows line end.
static void test_value_forms(void **state)
{
    fixture *f = *state;
    char text[256];
    int n = snprintf(text, sizeof text, "# comment\n\ncurve\n    public-key = '%s'  # ok\n",
                     f->keys[0]);
    s_write(f, "apostrophes", text, (size_t)n);
    // Unquoted, a key ends at a '#' (a Z85 character): this one has none.
    const char *bare =
        "curve\r\n    public-key=rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 # bare\r\n";
    s_write(f, "bare", bare, strlen(bare));
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 2);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    assert_true(tw_allow_list_has(list, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"));
    tw_allow_list_destroy(&list);
}

//  A file over the limit is not read, even when it starts as a certificate.
static void test_huge_file_is_skipped(void **state)
{
    fixture *f = *state;
    size_t size = TW_ALLOW_LIST_MAX_FILE_BYTES + 1;
    char *text = malloc(size);
    assert_non_null(text);
    memset(text, '#', size);
    int n = snprintf(text, size, "curve\n    public-key = \"%s\"\n", f->keys[0]);
    text[n] = '#';
    text[size - 1] = '\n';
    s_write(f, "huge", text, size);
    // The same at the limit exactly is still a certificate.
    s_write(f, "at-limit", text, size - 1);
    free(text);
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 1);
    char path[160];
    s_path(f, "at-limit", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tw_allow_list_refresh(list, 0), 1);
    assert_int_equal(tw_allow_list_size(list), 0);
    tw_allow_list_destroy(&list);
}

//  Removed or moved to a subdirectory: refused after the next look, which
//  comes no sooner than TW_ALLOW_LIST_CHECK_MS after the last one.
static void test_reload_after_removal(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "a");
    s_copy(f, 1, "b");
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 2);
    int64_t now = 5000;
    assert_int_equal(tw_allow_list_refresh(list, now), 0);  // first look: unchanged

    char path[160], moved[160];
    s_path(f, "a", path, sizeof path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(tw_allow_list_refresh(list, now + TW_ALLOW_LIST_CHECK_MS - 1), 0);
    assert_true(tw_allow_list_has(list, f->keys[0]));  // not looked yet
    now += TW_ALLOW_LIST_CHECK_MS;
    assert_int_equal(tw_allow_list_refresh(list, now), 1);
    assert_false(tw_allow_list_has(list, f->keys[0]));
    assert_true(tw_allow_list_has(list, f->keys[1]));

    s_path(f, "revoked", path, sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    s_path(f, "b", path, sizeof path);
    s_path(f, "revoked/b", moved, sizeof moved);
    assert_int_equal(rename(path, moved), 0);
    now += TW_ALLOW_LIST_CHECK_MS;
    assert_int_equal(tw_allow_list_refresh(list, now), 1);
    assert_int_equal(tw_allow_list_size(list), 0);

    // Added back, and a duplicate that appears later: no crash, one key.
    s_copy(f, 1, "b");
    s_copy(f, 1, "b.old");
    now += TW_ALLOW_LIST_CHECK_MS;
    assert_int_equal(tw_allow_list_refresh(list, now), 1);
    assert_int_equal(tw_allow_list_size(list), 1);
    assert_true(tw_allow_list_has(list, f->keys[1]));
    now += TW_ALLOW_LIST_CHECK_MS;
    assert_int_equal(tw_allow_list_refresh(list, now), 0);
    tw_allow_list_destroy(&list);
}

//  A file rewritten in place with another key (the directory's own mtime
//  does not change) is seen too.
static void test_reload_after_rewrite(void **state)
{
    fixture *f = *state;
    s_copy(f, 0, "a");
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    s_copy(f, 1, "a");
    assert_int_equal(tw_allow_list_refresh(list, 0), 1);
    assert_false(tw_allow_list_has(list, f->keys[0]));
    assert_true(tw_allow_list_has(list, f->keys[1]));
    tw_allow_list_destroy(&list);
}

//  Not a directory: NULL. A directory that goes away: nobody is let in,
//  until it is back.
static void test_missing_directory(void **state)
{
    fixture *f = *state;
    char path[160];
    s_path(f, "missing", path, sizeof path);
    assert_null(tw_allow_list_new(path));
    snprintf(path, sizeof path, "%s/cert0", f->dir);
    assert_null(tw_allow_list_new(path));

    s_copy(f, 0, "a");
    tw_allow_list *list = tw_allow_list_new(f->allow);
    assert_non_null(list);
    char aside[96];
    snprintf(aside, sizeof aside, "%s/aside", f->dir);
    assert_int_equal(rename(f->allow, aside), 0);
    assert_int_equal(tw_allow_list_refresh(list, 0), -ENOENT);
    assert_int_equal(tw_allow_list_size(list), 0);
    assert_int_equal(rename(aside, f->allow), 0);
    assert_int_equal(tw_allow_list_refresh(list, TW_ALLOW_LIST_CHECK_MS), 1);
    assert_true(tw_allow_list_has(list, f->keys[0]));
    tw_allow_list_destroy(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loads_a_certificate, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicates_are_one_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_logged_once, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_top_level_regular_files_only, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_is_skipped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_value_forms, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_huge_file_is_skipped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_after_removal, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reload_after_rewrite, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
