/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>

#include "dlopen-lib.h"
#include "macro.h"

/* What domain-xml.c and lg-test.c call of libxml2 (opened by
 * dlopen_libxml2()). xmlFree is a variable (a function pointer):
 * sym_xmlFree points at it. */
#define LIBXML_SYMBOLS(X)                                                                               \
        X(xmlDocGetRootElement) X(xmlFree) X(xmlFreeDoc) X(xmlGetProp) X(xmlNodeGetContent)             \
        X(xmlReadMemory) X(xmlStrEqual) X(xmlXPathEvalExpression) X(xmlXPathFreeContext)                \
        X(xmlXPathFreeObject) X(xmlXPathNewContext)

LIBXML_SYMBOLS(DLSYM_DECLARE)

/* libxml2.so.2, once per process: 0, or -EOPNOTSUPP (logged). */
int dlopen_libxml2(void);

static inline void xml_freep(xmlChar **p) {
        if (*p)
                (*sym_xmlFree)(*p);
}
#define _cleanup_xml_free_ __attribute__((cleanup(xml_freep)))
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlDocPtr, sym_xmlFreeDoc);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathContextPtr, sym_xmlXPathFreeContext);
DEFINE_TRIVIAL_CLEANUP_FUNC(xmlXPathObjectPtr, sym_xmlXPathFreeObject);
