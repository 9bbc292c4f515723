/* ops.c - the library's op table, generated from op_list.h. */
#include "qkv_internal.h"

#include <string.h>

const qkv_op_info *const qkv_ops[QKV_OP_COUNT] = {
#define QKV_OP(ID, name) [QKV_OP_##ID] = &qkv_op_info_##name,
#include "op_list.h"
#undef QKV_OP
};

const qkv_op_info *qkv_op_find(const char *name)
{
    for (int i = 0; name && i < QKV_OP_COUNT; i++)
        if (strcmp(qkv_ops[i]->name, name) == 0)
            return qkv_ops[i];
    return NULL;
}
