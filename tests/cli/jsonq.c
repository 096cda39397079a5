/* jsonq FILE PATH : print the value at a dotted PATH ("results.0.gmse") of a
 * JSON file; exit 1 if absent, 2 if the file is not valid JSON. A test tool. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 2;
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *root = cJSON_Parse(buf);
    if (!root) {
        fprintf(stderr, "jsonq: %s is not valid JSON\n", argv[1]);
        return 2;
    }
    const cJSON *node = root;
    char *save = NULL;
    for (char *k = strtok_r(argv[2], ".", &save); k && node; k = strtok_r(NULL, ".", &save))
        node = cJSON_IsArray(node) ? cJSON_GetArrayItem(node, atoi(k))
                                   : cJSON_GetObjectItemCaseSensitive(node, k);
    int rc = 0;
    if (!node)
        rc = 1;
    else if (cJSON_IsNumber(node))
        printf("%.17g\n", node->valuedouble);
    else if (cJSON_IsString(node))
        printf("%s\n", node->valuestring);
    else if (cJSON_IsNull(node))
        printf("null\n");
    else if (cJSON_IsArray(node))
        printf("%d\n", cJSON_GetArraySize(node));
    else
        printf("%s\n", cJSON_IsTrue(node) ? "true" : cJSON_IsFalse(node) ? "false" : "object");
    cJSON_Delete(root);
    return rc;
}
