/*
 * test_deploy_yaml.c - the YAML emitter of `axle deploy`
 * (src/cli/deploy_yaml.c): which strings stay plain and which are quoted
 * (every YAML 1.1 bool, null, number, date and indicator form is quoted),
 * escaping, the block layout of nested maps and sequences, empty
 * collections, document separators and the misuse checks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cli/deploy.h"

static void plain_strings_stay_plain(void **state)
{
    (void)state;
    static const char *const plain[] = {
        "axle", "iris-model", "app.kubernetes.io/name", "/v2/health/ready", "/metrics",
        "--host=0.0.0.0", "--model_dir=/mnt/models", "-x", "512Mi", "1Gi", "500m", "v2",
        "ghcr.io/acme/axle:1.0", "localhost:5000/axle:1", "s3://bucket/models/iris",
        "reg.io/a@sha256:0123", "RuntimeDefault", "ALL", "mnist_cnn", "_x", "yesno", "nulls",
        "1Ti", "on-call",
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (!axle_yaml_plain_ok(plain[i]))
            fail_msg("'%s' should be plain", plain[i]);
    }
}

static void ambiguous_strings_are_quoted(void **state)
{
    (void)state;
    static const char *const quoted[] = {
        /* empty, null and bools (YAML 1.1 and 1.2) */
        "", "~", "null", "Null", "NULL", "y", "Y", "n", "N", "yes", "Yes", "no", "NO", "on",
        "On", "OFF", "off", "true", "True", "FALSE",
        /* numbers: ints, octal, hex, binary, floats, exponents, sexagesimal,
         * underscores, infinities and NaN */
        "0", "1", "8080", "-1", "+1", "0o17", "017", "0x1F", "0b101", "1.5", "2.5", ".5",
        "1e3", "1E-3", "1_000", "12:30", "190:20:30", ".inf", "-.inf", ".NaN", "+.5",
        /* dates */
        "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2001-12-14T21:59:43Z",
        /* indicators and characters that need quoting */
        "-", "--", "- x", "---", "...", "a b", "a: b", "a:", "#x", "x#y", "{{.Name}}",
        "[a]", "a,b", "*ref", "&anchor", "!tag", "|", ">", "'q'", "\"q\"", "@x", "%x", "`x",
        "=", "<<", "?x", ":x", "a\nb", "tab\there",
    };
    for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) {
        if (axle_yaml_plain_ok(quoted[i]))
            fail_msg("'%s' should be quoted", quoted[i]);
    }
}

static char *emit_str(struct axle_buf *b, const char *v)
{
    struct axle_yaml y;
    buf_reset(b);
    axle_yaml_init(&y, b);
    axle_yaml_doc_begin(&y);
    axle_yaml_str(&y, "k", v);
    axle_yaml_doc_end(&y);
    assert_int_equal(axle_yaml_finish(&y), 0);
    buf_putc(b, 0);
    return b->data;
}

static void quoted_strings_are_escaped(void **state)
{
    (void)state;
    struct axle_buf b;
    buf_init(&b);
    assert_string_equal(emit_str(&b, "yes"), "k: \"yes\"\n");
    assert_string_equal(emit_str(&b, ""), "k: \"\"\n");
    assert_string_equal(emit_str(&b, "a\"b\\c"), "k: \"a\\\"b\\\\c\"\n");
    assert_string_equal(emit_str(&b, "a\nb\t\x01"), "k: \"a\\x0Ab\\x09\\x01\"\n");
    assert_string_equal(emit_str(&b, "plain"), "k: plain\n");
    buf_free(&b);
}

static void nested_maps_and_sequences_are_laid_out_in_blocks(void **state)
{
    (void)state;
    struct axle_buf b;
    struct axle_yaml y;
    buf_init(&b);
    axle_yaml_init(&y, &b);
    axle_yaml_comment(&y, "head");
    axle_yaml_doc_begin(&y);
    axle_yaml_str(&y, "kind", "Deployment");
    axle_yaml_map(&y, "spec");
    axle_yaml_int(&y, "replicas", 2);
    axle_yaml_seq(&y, "containers");
    axle_yaml_map(&y, NULL);
    axle_yaml_str(&y, "name", "axle");
    axle_yaml_seq(&y, "args");
    axle_yaml_str(&y, NULL, "serve");
    axle_yaml_str(&y, NULL, "8080");
    axle_yaml_end(&y);
    axle_yaml_bool(&y, "tty", 0);
    axle_yaml_end(&y);
    axle_yaml_map(&y, NULL);
    axle_yaml_map(&y, "httpGet"); /* an item whose first entry is a map */
    axle_yaml_int(&y, "port", 8080);
    axle_yaml_end(&y);
    axle_yaml_end(&y);
    axle_yaml_map(&y, NULL); /* an empty item */
    axle_yaml_end(&y);
    axle_yaml_end(&y);
    axle_yaml_map(&y, "empty");
    axle_yaml_end(&y);
    axle_yaml_seq(&y, "none");
    axle_yaml_end(&y);
    axle_yaml_end(&y);
    axle_yaml_doc_end(&y);
    axle_yaml_doc_begin(&y);
    axle_yaml_str(&y, "kind", "Service");
    axle_yaml_doc_end(&y);
    assert_int_equal(axle_yaml_finish(&y), 0);
    buf_putc(&b, 0);
    assert_string_equal(b.data,
                        "# head\n"
                        "kind: Deployment\n"
                        "spec:\n"
                        "  replicas: 2\n"
                        "  containers:\n"
                        "    - name: axle\n"
                        "      args:\n"
                        "        - serve\n"
                        "        - \"8080\"\n"
                        "      tty: false\n"
                        "    - httpGet:\n"
                        "        port: 8080\n"
                        "    - {}\n"
                        "  empty: {}\n"
                        "  none: []\n"
                        "---\n"
                        "kind: Service\n");
    buf_free(&b);
}

static void misuse_is_reported_not_written_silently(void **state)
{
    (void)state;
    struct axle_buf b;
    struct axle_yaml y;
    buf_init(&b);

    axle_yaml_init(&y, &b); /* a scalar outside a document */
    axle_yaml_str(&y, "k", "v");
    assert_int_equal(axle_yaml_finish(&y), -1);

    axle_yaml_init(&y, &b); /* a key inside a sequence */
    axle_yaml_doc_begin(&y);
    axle_yaml_seq(&y, "s");
    axle_yaml_str(&y, "k", "v");
    axle_yaml_end(&y);
    axle_yaml_doc_end(&y);
    assert_int_equal(axle_yaml_finish(&y), -1);

    axle_yaml_init(&y, &b); /* no key inside a map */
    axle_yaml_doc_begin(&y);
    axle_yaml_str(&y, NULL, "v");
    axle_yaml_doc_end(&y);
    assert_int_equal(axle_yaml_finish(&y), -1);

    axle_yaml_init(&y, &b); /* a document left open */
    axle_yaml_doc_begin(&y);
    axle_yaml_map(&y, "m");
    assert_int_equal(axle_yaml_finish(&y), -1);

    axle_yaml_init(&y, &b); /* one end too many */
    axle_yaml_doc_begin(&y);
    axle_yaml_end(&y);
    axle_yaml_doc_end(&y);
    assert_int_equal(axle_yaml_finish(&y), -1);

    axle_yaml_init(&y, &b); /* a sequence directly in a sequence */
    axle_yaml_doc_begin(&y);
    axle_yaml_seq(&y, "s");
    axle_yaml_seq(&y, NULL);
    assert_int_equal(axle_yaml_finish(&y), -1);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(plain_strings_stay_plain),
        cmocka_unit_test(ambiguous_strings_are_quoted),
        cmocka_unit_test(quoted_strings_are_escaped),
        cmocka_unit_test(nested_maps_and_sequences_are_laid_out_in_blocks),
        cmocka_unit_test(misuse_is_reported_not_written_silently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
