// SPDX-License-Identifier: MPL-2.0
/*  test_curve: keygen's files on a real scratch directory: modes whatever
    the umask, czmq reads them, an existing file is never overwritten
    without force, and a symlink is never followed (the symlink attack on
    NAME_secret leaves its target as it was).
*/
#include <dirent.h>
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
#include "curve.h"

typedef struct {
    char dir[64];       // the scratch directory
    char name[96];      // dir/keys/k: the NAME given to keygen
    char secret[112];   // dir/keys/k_secret
    char keys[80];      // dir/keys, where keygen writes
    char target[96];    // dir/target, outside keys/: what an attacker points at
    mode_t saved_mask;  // the umask before the test
} fixture;

static int s_setup(void **state)
{
    zsys_handler_set(NULL);
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    strcpy(f->dir, "/tmp/test_curve.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    assert_int_equal(mkdir(f->keys, 0700), 0);
    snprintf(f->name, sizeof f->name, "%s/k", f->keys);
    snprintf(f->secret, sizeof f->secret, "%s/k_secret", f->keys);
    snprintf(f->target, sizeof f->target, "%s/target", f->dir);
    f->saved_mask = umask(022);
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fixture *f = *state;
    umask(f->saved_mask);
    char command[160];
    snprintf(command, sizeof command, "rm -rf '%s'", f->dir);
    assert_int_equal(system(command), 0);
    free(f);
    return 0;
}

static void s_write(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

//  The whole content of path, as a string to free.
static char *s_read(const char *path)
{
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char *text = calloc(1, 4096);
    assert_non_null(text);
    size_t n = fread(text, 1, 4095, in);
    assert_int_equal(fclose(in), 0);
    text[n] = '\0';
    return text;
}

//  lstat's type and permission bits of path, or 0 when it does not exist.
static mode_t s_mode(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_mode & (S_IFMT | 07777) : 0;
}

//  The entries of dir (hidden ones included) besides . and ..
static int s_entries(const char *dir)
{
    DIR *listing = opendir(dir);
    assert_non_null(listing);
    int count = 0;
    for (struct dirent *entry; (entry = readdir(listing));)
        count += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    assert_int_equal(closedir(listing), 0);
    return count;
}

//  czmq reads the pair: the secret certificate has both keys, the public one
//  has the same public key and no secret; our allow list reads it too.
static void s_assert_pair(fixture *f)
{
    assert_int_equal(s_mode(f->secret), S_IFREG | 0600);
    assert_int_equal(s_mode(f->name), S_IFREG | 0644);
    zcert_t *cert = zcert_load(f->name);  // reads k_secret first
    assert_non_null(cert);
    assert_string_not_equal(zcert_secret_txt(cert), "0000000000000000000000000000000000000000");
    zconfig_t *public_file = zconfig_load(f->name);
    assert_non_null(public_file);
    assert_string_equal(zconfig_get(public_file, "curve/public-key", ""), zcert_public_txt(cert));
    assert_string_equal(zconfig_get(public_file, "curve/secret-key", "none"), "none");
    tw_allow_list *list = tw_allow_list_new(f->keys);
    assert_non_null(list);
    assert_int_equal(tw_allow_list_size(list), 1);
    assert_true(tw_allow_list_has(list, zcert_public_txt(cert)));
    tw_allow_list_destroy(&list);
    zconfig_destroy(&public_file);
    zcert_destroy(&cert);
}

//  The secret is 0600 even under a umask that would take the owner's write
//  bit (0277) or give it to others (0); nothing else is left behind.
static void test_writes_a_pair_with_its_modes(void **state)
{
    fixture *f = *state;
    umask(0277);
    assert_int_equal(tw_curve_keygen(f->name, false), 0);
    s_assert_pair(f);
    assert_int_equal(s_entries(f->keys), 2);
    assert_int_equal(unlink(f->name), 0);
    assert_int_equal(unlink(f->secret), 0);
    umask(0);
    assert_int_equal(tw_curve_keygen(f->name, false), 0);
    s_assert_pair(f);
    assert_int_equal(s_entries(f->keys), 2);
}

//  An existing file, either one, is refused and left as it was; the other
//  is not written either.
static void test_refuses_existing_files(void **state)
{
    fixture *f = *state;
    s_write(f->secret, "hi\n", 0644);
    assert_int_equal(tw_curve_keygen(f->name, false), -EEXIST);
    char *text = s_read(f->secret);
    assert_string_equal(text, "hi\n");
    free(text);
    assert_int_equal(s_mode(f->secret), S_IFREG | 0644);
    assert_int_equal(s_mode(f->name), 0);

    assert_int_equal(unlink(f->secret), 0);
    s_write(f->name, "public\n", 0644);
    assert_int_equal(tw_curve_keygen(f->name, false), -EEXIST);
    assert_int_equal(s_mode(f->secret), 0);
    text = s_read(f->name);
    assert_string_equal(text, "public\n");
    free(text);

    assert_int_equal(unlink(f->name), 0);
    assert_int_equal(tw_curve_keygen(f->name, false), 0);
    char *before = s_read(f->secret);
    assert_int_equal(tw_curve_keygen(f->name, false), -EEXIST);
    text = s_read(f->secret);
    assert_string_equal(text, before);
    free(text);
    free(before);
    assert_int_equal(s_entries(f->keys), 2);
}

//  NAME_secret and NAME symlinked elsewhere (one to a file, one dangling):
//  refused; with force the links are replaced by files, their targets stay
//  as they were (and the dangling one's is not created).
static void test_symlink_attack(void **state)
{
    fixture *f = *state;
    s_write(f->target, "precious\n", 0644);
    char victim[96];
    snprintf(victim, sizeof victim, "%s/victim", f->dir);
    assert_int_equal(symlink(f->target, f->secret), 0);
    assert_int_equal(symlink(victim, f->name), 0);
    assert_int_equal(tw_curve_keygen(f->name, false), -EEXIST);
    assert_int_equal(s_mode(f->secret), S_IFLNK | 0777);
    assert_int_equal(tw_curve_keygen(f->name, true), 0);
    s_assert_pair(f);
    char *text = s_read(f->target);
    assert_string_equal(text, "precious\n");
    free(text);
    assert_int_equal(s_mode(f->target), S_IFREG | 0644);
    assert_int_equal(s_mode(victim), 0);
    assert_int_equal(s_entries(f->keys), 2);
}

//  force replaces a pair with a new one.
static void test_force_replaces(void **state)
{
    fixture *f = *state;
    assert_int_equal(tw_curve_keygen(f->name, false), 0);
    char *before = s_read(f->secret);
    assert_int_equal(chmod(f->secret, 0644), 0);
    assert_int_equal(tw_curve_keygen(f->name, true), 0);
    char *after = s_read(f->secret);
    assert_string_not_equal(before, after);
    s_assert_pair(f);
    free(before);
    free(after);
}

//  A directory that is not there: an error, and nothing written.
static void test_missing_directory(void **state)
{
    fixture *f = *state;
    char name[128];
    snprintf(name, sizeof name, "%s/missing/k", f->dir);
    assert_int_equal(tw_curve_keygen(name, false), -ENOENT);
    assert_int_equal(tw_curve_keygen(name, true), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes_a_pair_with_its_modes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_refuses_existing_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_symlink_attack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_force_replaces, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_missing_directory, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
