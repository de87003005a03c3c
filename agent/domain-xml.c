/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libxml-dl.h"

static int xml_hex_attr(xmlNodePtr n, const char *name, unsigned *ret) {
        _cleanup_(xml_freep) xmlChar *v = sym_xmlGetProp(n, (const xmlChar *) name);
        char *end;
        if (!v)
                return -ENOENT;
        errno = 0;
        unsigned long x = strtoul((const char *) v, &end, 0);
        if (errno || *end || x > 0xffff)
                return -EINVAL;
        *ret = (unsigned) x;
        return 0;
}

int domain_xml_hostdevs(const char *xml, Hostdev **ret, size_t *ret_n) {
        int r = dlopen_libxml2();
        if (r < 0)
                return r;
        _cleanup_(sym_xmlFreeDocp) xmlDocPtr doc = sym_xmlReadMemory(xml, (int) strlen(xml), "domain.xml", NULL,
                                                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
        if (!doc)
                return -EBADMSG;
        _cleanup_(sym_xmlXPathFreeContextp) xmlXPathContextPtr ctx = sym_xmlXPathNewContext(doc);
        if (!ctx)
                return -ENOMEM;
        _cleanup_(sym_xmlXPathFreeObjectp) xmlXPathObjectPtr obj = sym_xmlXPathEvalExpression(
                (const xmlChar *) "/domain/devices/hostdev[@mode='subsystem' and @type='pci']", ctx);
        xmlNodePtr root = sym_xmlDocGetRootElement(doc);
        if (!obj || !root || !sym_xmlStrEqual(root->name, (const xmlChar *) "domain"))
                return obj ? -EBADMSG : -ENOMEM;

        size_t n = obj->nodesetval ? (size_t) obj->nodesetval->nodeNr : 0, k = 0;
        _cleanup_free_ Hostdev *list = calloc(n + 1, sizeof(Hostdev));
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                xmlNodePtr h = obj->nodesetval->nodeTab[i];
                _cleanup_(xml_freep) xmlChar *managed = sym_xmlGetProp(h, (const xmlChar *) "managed");
                xmlNodePtr addr = NULL;
                for (xmlNodePtr s = h->children; s && !addr; s = s->next)
                        if (s->type == XML_ELEMENT_NODE && sym_xmlStrEqual(s->name, (const xmlChar *) "source"))
                                for (xmlNodePtr a = s->children; a && !addr; a = a->next)
                                        if (a->type == XML_ELEMENT_NODE && sym_xmlStrEqual(a->name, (const xmlChar *) "address"))
                                                addr = a;
                Hostdev *hd = &list[k];
                if (!addr || xml_hex_attr(addr, "bus", &hd->address.bus) < 0 ||
                    xml_hex_attr(addr, "slot", &hd->address.slot) < 0 ||
                    xml_hex_attr(addr, "function", &hd->address.function) < 0)
                        continue;
                if (xml_hex_attr(addr, "domain", &hd->address.domain) < 0)
                        hd->address.domain = 0;
                pci_address_format(&hd->address, hd->address_str);
                hd->managed = managed && sym_xmlStrEqual(managed, (const xmlChar *) "yes");
                k++;
        }
        *ret = TAKE_PTR(list);
        *ret_n = k;
        return 0;
}

