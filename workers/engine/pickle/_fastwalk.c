/*
 * Optional accelerator for Walker._loop (machine.py): runs a stretch of data-only opcodes directly on
 * the walker's own structures (the current stack list `st`, the saved stacks `meta`, the `memo` dict)
 * and pushes exactly the values the Python loop pushes for them (ints, None/True/False, bytes, DATA,
 * BIGTEXT, Bin, (), [], SDict, SSet, tuples).
 *
 * It stops, without executing it, at the first opcode that is not implemented here or whose Python
 * handling would do anything beyond building plain data: an argument that is not entirely in the
 * buffer, a stack or MARK underflow, a container target that is not the plain container the opcode
 * expects (mutation findings), a memo index that was never stored, a memo that is full, ... The
 * Python loop then executes that opcode itself, so it raises the same errors and reports the same
 * findings. It also stops when the position reaches `chk`, where the Python loop runs its slow checks
 * (frame end, refill + time check, opcode budget); where Python would force those checks right after
 * a length-prefixed argument (`chk = i`) they are no-ops except for the stack-depth limit, which is
 * checked here and handed back by lowering `chk`. Like one iteration of the Python loop, the first opcode is
 * executed even when the call starts at `i >= chk` (the slow checks have just run).
 *
 * The cyclic GC is paused while this runs (and no Python code runs): the containers built here stay reachable
 * from the stack or the memo (what is popped is freed by reference counting), so collections would only
 * traverse them again and again. The GC state is restored before returning or calling Python code
 * (Bin.__init__). This changes when the collector runs, never a value or a finding.
 *
 * fast_forward(buf, i, chk, fe, base, st, meta, memo, mlen, dropped, cfg) -> (i, st, mlen, chk, dropped)
 *   cfg = (SDict, SSet, Bin, DATA, MISSING, BIGTEXT, keep, MEMO_FULL, MAX_ITEMS, MAX_STACK,
 *          KEEP_TEXT, KEEP_BYTES, plain, MEMO_MAX, NAME_MAX, Ref, Obj)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#define NCFG 17

typedef struct {
    PyObject *sdict, *sset, *bin, *data, *missing, *bigtext, *keep, *plain, *ref, *obj;
    Py_ssize_t memo_full, max_items, max_stack, keep_text, keep_bytes, memo_max, name_max;
    int plain_containers;  /* SDict and SSet are created and extended like list, without Python code */
} cfg_t;

static PyObject *str_extend;  /* "extend" */

/* a list subtype that is created, initialised and extended by list's own C code */
static int
list_like(PyObject *t)
{
    PyTypeObject *tp = (PyTypeObject *)t;
    PyObject *mine, *lists;
    int same;
    if (!PyType_IsSubtype(tp, &PyList_Type) || tp->tp_new != PyList_Type.tp_new
            || tp->tp_init != PyList_Type.tp_init || tp->tp_alloc != PyType_GenericAlloc)
        return 0;
    mine = PyObject_GetAttr(t, str_extend);
    lists = PyObject_GetAttr((PyObject *)&PyList_Type, str_extend);
    same = mine != NULL && mine == lists;
    Py_XDECREF(mine);
    Py_XDECREF(lists);
    PyErr_Clear();
    return same;
}

static int
read_cfg(PyObject *t, cfg_t *c)
{
    if (!PyTuple_CheckExact(t) || PyTuple_GET_SIZE(t) != NCFG) {
        PyErr_SetString(PyExc_TypeError, "fast_forward: bad configuration tuple");
        return -1;
    }
    c->sdict = PyTuple_GET_ITEM(t, 0);
    c->sset = PyTuple_GET_ITEM(t, 1);
    c->bin = PyTuple_GET_ITEM(t, 2);
    c->data = PyTuple_GET_ITEM(t, 3);
    c->missing = PyTuple_GET_ITEM(t, 4);
    c->bigtext = PyTuple_GET_ITEM(t, 5);
    c->keep = PyTuple_GET_ITEM(t, 6);
    c->plain = PyTuple_GET_ITEM(t, 12);
    c->ref = PyTuple_GET_ITEM(t, 15);
    c->obj = PyTuple_GET_ITEM(t, 16);
    if (!PyType_Check(c->sdict) || !PyType_Check(c->sset) || !PyType_Check(c->bin) || !PyTuple_Check(c->plain)
            || !PyType_Check(c->ref) || !PyType_Check(c->obj)) {
        PyErr_SetString(PyExc_TypeError, "fast_forward: bad configuration tuple");
        return -1;
    }
    c->memo_full = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 7));
    c->max_items = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 8));
    c->max_stack = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 9));
    c->keep_text = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 10));
    c->keep_bytes = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 11));
    c->memo_max = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 13));
    c->name_max = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 14));
    if (PyErr_Occurred())
        return -1;
    c->plain_containers = list_like(c->sdict) && list_like(c->sset);
    return 0;
}

/* st.append(v), stealing v (which may be NULL after a failed constructor) */
static int
push_steal(PyObject *st, PyObject *v)
{
    int r;
    if (v == NULL)
        return -1;
    r = PyList_Append(st, v);
    Py_DECREF(v);
    return r;
}

/* l.pop() without the result: one list_resize, as in Python (a list's capacity follows the same steps) */
static int
list_drop(PyObject *l)
{
    Py_ssize_t n = PyList_GET_SIZE(l);
    return PyList_SetSlice(l, n - 1, n, NULL);
}

/* meta.pop() (a new reference), or NULL with an exception set */
static PyObject *
meta_pop(PyObject *meta)
{
    Py_ssize_t m = PyList_GET_SIZE(meta);
    PyObject *x = PyList_GET_ITEM(meta, m - 1);
    Py_INCREF(x);
    if (PyList_SetSlice(meta, m - 1, m, NULL) < 0) {
        Py_DECREF(x);
        return NULL;
    }
    return x;
}

/* the top of meta is a plain list (it always is: only MARK pushes there) */
static int
meta_ok(PyObject *meta)
{
    Py_ssize_t m = PyList_GET_SIZE(meta);
    return m > 0 && PyList_CheckExact(PyList_GET_ITEM(meta, m - 1));
}

/* tgt.extend(items[:max_items - len(tgt)]) if len(tgt) < max_items; list.extend itself, which sizes an
   empty list exactly (a slice assignment would over-allocate) */
static int
extend_bounded(PyObject *tgt, PyObject *items, Py_ssize_t max_items)
{
    Py_ssize_t lt = PyList_GET_SIZE(tgt);
    PyObject *part, *res, *argv[2];
    if (lt >= max_items)
        return 0;
    part = PyList_GetSlice(items, 0, max_items - lt);
    if (part == NULL)
        return -1;
    argv[0] = tgt;
    argv[1] = part;
    res = PyObject_VectorcallMethod(str_extend, argv, 2 | PY_VECTORCALL_ARGUMENTS_OFFSET, NULL);
    Py_DECREF(part);
    if (res == NULL)
        return -1;
    Py_DECREF(res);
    return 0;
}

/* a tuple item as memo.py's _item keeps it: Ref, Obj and short strings as they are, anything else DATA */
static PyObject *
compact_item(PyObject *x, const cfg_t *c)
{
    PyObject *t = (PyObject *)Py_TYPE(x);
    if (t == c->ref || t == c->obj || (PyBytes_CheckExact(x) && PyBytes_GET_SIZE(x) <= c->name_max))
        return Py_NewRef(x);
    return Py_NewRef(c->data);
}

/* memo[key] = v under the bound of memo.py's store(): verbatim below memo_full entries, then the compact form
   or nothing. 1 stored, 0 dropped (a GET of it yields MISSING), 2 left to Python (an Obj or Bin, whose compact
   form is built by Python code), -1 error. */
static int
memo_store(PyObject *memo, PyObject *key, PyObject *v, const cfg_t *c)
{
    Py_ssize_t len = PyDict_GET_SIZE(memo), k, nt;
    PyObject *t = (PyObject *)Py_TYPE(v), *kept = NULL;
    int r, any = 0;
    if (len < c->memo_full)
        return PyDict_SetItem(memo, key, v) < 0 ? -1 : 1;
    if (len >= c->memo_max) {
        r = PyDict_Contains(memo, key);
        if (r <= 0)
            return r;  /* full and a new slot: dropped */
    }
    if (t == c->obj || t == c->bin)
        return 2;
    if (t == c->ref || (PyBytes_CheckExact(v) && PyBytes_GET_SIZE(v) <= c->name_max))
        kept = Py_NewRef(v);
    else if (PyTuple_CheckExact(v)) {
        nt = PyTuple_GET_SIZE(v);
        for (k = 0; k < nt && !any; k++) {
            PyObject *xt = (PyObject *)Py_TYPE(PyTuple_GET_ITEM(v, k));
            any = xt == c->ref || xt == c->obj;
        }
        if (any) {
            kept = PyTuple_New(nt);
            if (kept == NULL)
                return -1;
            for (k = 0; k < nt; k++)
                PyTuple_SET_ITEM(kept, k, compact_item(PyTuple_GET_ITEM(v, k), c));
        }
    }
    if (kept == NULL) {  /* memo.pop(key, None) */
        r = PyDict_Contains(memo, key);
        if (r > 0)
            r = PyDict_DelItem(memo, key);
        return r < 0 ? -1 : 0;
    }
    r = PyDict_SetItem(memo, key, kept);
    Py_DECREF(kept);
    return r < 0 ? -1 : 1;
}

static inline uint32_t
rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* size of one unit of the numeric runs the Python MARK fast path skips (BININT1/BININT2/BININT/BINFLOAT) */
static inline Py_ssize_t
run_size(int c)
{
    switch (c) {
    case 75: return 2;
    case 77: return 3;
    case 74: return 5;
    case 71: return 9;
    default: return 0;
    }
}

static PyObject *
fast_forward(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *buf, *st, *meta, *memo, *v, *w, *key, *items, *tgt;
    const unsigned char *b;
    long long i, chk, fe, base, mlen, n;
    int dropped, r, first, gc_was = 0;
    cfg_t c;

    if (nargs != 11) {
        PyErr_SetString(PyExc_TypeError, "fast_forward expects 11 arguments");
        return NULL;
    }
    buf = args[0];
    i = PyLong_AsLongLong(args[1]);
    chk = PyLong_AsLongLong(args[2]);
    fe = PyLong_AsLongLong(args[3]);
    base = PyLong_AsLongLong(args[4]);
    st = args[5];
    meta = args[6];
    memo = args[7];
    mlen = PyLong_AsLongLong(args[8]);
    dropped = PyObject_IsTrue(args[9]);
    if (PyErr_Occurred() || dropped < 0)
        return NULL;
    if (read_cfg(args[10], &c) < 0)
        return NULL;
    if (!PyList_CheckExact(st) || !PyList_CheckExact(meta) || !PyDict_CheckExact(memo)) {
        PyErr_SetString(PyExc_TypeError, "fast_forward: st/meta must be lists, memo a dict");
        return NULL;
    }
    Py_INCREF(st);  /* owned from here on: MARK and the container opcodes replace it */
    /* pause the cyclic GC (see the top of the file); the allocation count carries over, so the first
       allocation after this call collects as usual */
    gc_was = PyGC_Disable();
    if (!PyBytes_CheckExact(buf))
        goto done;  /* the Python loop handles other buffer types itself */
    b = (const unsigned char *)PyBytes_AS_STRING(buf);
    n = PyBytes_GET_SIZE(buf);

    /* as in the Python loop, the first opcode runs even at i >= chk (its slow checks have just run) */
    for (first = 1; (first || i < chk) && i < n; first = 0) {
        Py_ssize_t sl = PyList_GET_SIZE(st);
        int op = b[i];
        int var = 0;  /* length-prefixed argument: Python re-runs its slow checks after it */
        switch (op) {

        /* ---------------------------------------------------------- numbers and constants */
        case 75:  /* K BININT1 */
            if (i + 2 > n) goto done;
            if (push_steal(st, PyLong_FromLong(b[i + 1])) < 0) goto error;
            i += 2;
            break;
        case 77:  /* M BININT2 */
            if (i + 3 > n) goto done;
            if (push_steal(st, PyLong_FromLong(b[i + 1] | (b[i + 2] << 8))) < 0) goto error;
            i += 3;
            break;
        case 74:  /* J BININT */
            if (i + 5 > n) goto done;
            if (push_steal(st, PyLong_FromLong((long)(int32_t)rd_u32(b + i + 1))) < 0) goto error;
            i += 5;
            break;
        case 71:  /* G BINFLOAT */
            if (i + 9 > n) goto done;
            if (PyList_Append(st, c.data) < 0) goto error;
            i += 9;
            break;
        case 138: {  /* LONG1 */
            long long len, k;
            uint64_t u = 0;
            if (i + 2 > n) goto done;
            len = b[i + 1];
            if (i + 2 + len > n) goto done;
            if (len <= 8) {
                int64_t sv;
                for (k = len - 1; k >= 0; k--)
                    u = (u << 8) | b[i + 2 + k];
                if (len > 0 && len < 8 && (b[i + 1 + len] & 0x80))
                    u |= ~(uint64_t)0 << (8 * len);  /* sign-extend */
                sv = (int64_t)u;
                if (push_steal(st, PyLong_FromLongLong(sv)) < 0) goto error;
            }
            else if (len <= 16) {
                goto done;  /* int.from_bytes of 9..16 bytes: left to Python */
            }
            else {
                if (PyList_Append(st, c.data) < 0) goto error;
            }
            i += 2 + len;
            var = 1;
            break;
        }
        case 78:  /* N NONE */
            if (PyList_Append(st, Py_None) < 0) goto error;
            i += 1;
            break;
        case 136:  /* NEWTRUE */
            if (PyList_Append(st, Py_True) < 0) goto error;
            i += 1;
            break;
        case 137:  /* NEWFALSE */
            if (PyList_Append(st, Py_False) < 0) goto error;
            i += 1;
            break;
        case 151:  /* NEXT_BUFFER */
            if (PyList_Append(st, c.data) < 0) goto error;
            i += 1;
            break;
        case 152:  /* READONLY_BUFFER */
            if (sl < 1) goto done;
            i += 1;
            break;

        /* ---------------------------------------------------------- strings and bytes */
        case 140: {  /* SHORT_BINUNICODE */
            long long k;
            if (i + 2 > n) goto done;
            k = b[i + 1];
            if (i + 2 + k > n) goto done;
            if (push_steal(st, PyBytes_FromStringAndSize((const char *)b + i + 2, (Py_ssize_t)k)) < 0)
                goto error;
            i += 2 + k;
            break;
        }
        case 88:    /* X BINUNICODE: 4-byte unsigned length */
        case 84:    /* T BINSTRING: 4-byte signed length */
        case 85:    /* U SHORT_BINSTRING */
        case 66:    /* B BINBYTES */
        case 67: {  /* C SHORT_BINBYTES */
            long long hdr, len, end;
            if (op == 85 || op == 67) {
                hdr = 2;
                if (i + hdr > n) goto done;
                len = b[i + 1];
            }
            else {
                hdr = 5;
                if (i + hdr > n) goto done;
                if (op == 84) {
                    len = (int32_t)rd_u32(b + i + 1);
                    if (len < 0) goto done;
                }
                else {
                    len = rd_u32(b + i + 1);
                }
            }
            end = i + hdr + len;
            if (end > n) goto done;  /* Python refills or seeks */
            if (op == 66 || op == 67) {  /* bytes: Bin(data or None, offset, length) */
                PyObject *data;
                if (len <= c.keep_bytes)
                    data = PyBytes_FromStringAndSize((const char *)b + i + hdr, (Py_ssize_t)len);
                else {
                    data = Py_None;
                    Py_INCREF(data);
                }
                if (data == NULL) goto error;
                /* Bin.__init__ is Python code, during which other threads may run: not with the GC paused */
                if (gc_was)
                    PyGC_Enable();
                v = PyObject_CallFunction(c.bin, "NLL", data, base + i + hdr, len);
                gc_was = PyGC_Disable();
                if (push_steal(st, v) < 0) goto error;
            }
            else if (len <= c.keep_bytes && len <= c.keep_text) {
                if (push_steal(st, PyBytes_FromStringAndSize((const char *)b + i + hdr, (Py_ssize_t)len)) < 0)
                    goto error;
            }
            else {
                if (PyList_Append(st, c.bigtext) < 0) goto error;
            }
            i = end;
            var = 1;
            break;
        }

        /* ---------------------------------------------------------- MARK and containers */
        case 40: {  /* ( MARK */
            /* the Python loop's fast path: MARK <homogeneous numeric runs> APPENDS onto a list in the frame */
            long long j = i + 1;
            int cc = j < n ? b[j] : -1;
            if (run_size(cc)) {
                while (run_size(cc)) {
                    Py_ssize_t size = run_size(cc);
                    int unit = cc;
                    if (j + size > n)
                        break;  /* re.match finds no unit: None */
                    while (j + size <= n && b[j] == unit)
                        j += size;
                    cc = j < n ? b[j] : -1;
                }
                if (cc == 101 && j < fe && sl > 0) {
                    if (!PyList_CheckExact(PyList_GET_ITEM(st, sl - 1)))
                        goto done;  /* a non-list target: Python reports or ignores it */
                    i = j + 1;      /* the run is skipped, the list is left as it is (as in Python) */
                    break;
                }
            }
            v = PyList_New(0);
            if (v == NULL) goto error;
            if (PyList_Append(meta, st) < 0) {
                Py_DECREF(v);
                goto error;
            }
            Py_SETREF(st, v);
            i += 1;
            break;
        }
        case 41:  /* ) EMPTY_TUPLE */
            if (push_steal(st, PyTuple_New(0)) < 0) goto error;
            i += 1;
            break;
        case 93:  /* ] EMPTY_LIST */
            if (push_steal(st, PyList_New(0)) < 0) goto error;
            i += 1;
            break;
        case 125:  /* } EMPTY_DICT: SDict() */
        case 143:  /* EMPTY_SET: SSet() */
            if (!c.plain_containers) goto done;
            /* what type_call does for a list subtype without __new__/__init__ of its own and no arguments */
            v = PyType_GenericAlloc((PyTypeObject *)(op == 125 ? c.sdict : c.sset), 0);
            if (push_steal(st, v) < 0) goto error;
            i += 1;
            break;
        case 133:  /* TUPLE1 */
            if (sl < 1) goto done;
            v = PyTuple_Pack(1, PyList_GET_ITEM(st, sl - 1));
            if (v == NULL) goto error;
            PyList_SetItem(st, sl - 1, v);
            i += 1;
            break;
        case 134:  /* TUPLE2 */
            if (sl < 2) goto done;
            v = PyTuple_Pack(2, PyList_GET_ITEM(st, sl - 2), PyList_GET_ITEM(st, sl - 1));
            if (v == NULL) goto error;
            if (list_drop(st) < 0) {
                Py_DECREF(v);
                goto error;
            }
            PyList_SetItem(st, sl - 2, v);
            i += 1;
            break;
        case 135:  /* TUPLE3 */
            if (sl < 3) goto done;
            v = PyTuple_Pack(3, PyList_GET_ITEM(st, sl - 3), PyList_GET_ITEM(st, sl - 2),
                             PyList_GET_ITEM(st, sl - 1));
            if (v == NULL) goto error;
            if (list_drop(st) < 0 || list_drop(st) < 0) {
                Py_DECREF(v);
                goto error;
            }
            PyList_SetItem(st, sl - 3, v);
            i += 1;
            break;
        case 116:    /* t TUPLE */
        case 108:    /* l LIST */
        case 100:    /* d DICT */
        case 145: {  /* FROZENSET */
            PyObject *below;
            if (!meta_ok(meta)) goto done;
            if (op == 100 && (sl & 1)) goto done;  /* odd DICT: Malformed in Python */
            if ((op == 100 || op == 145) && !c.plain_containers) goto done;
            if (sl > c.max_items) {
                items = PyList_GetSlice(st, 0, c.max_items);
                if (items == NULL) goto error;
            }
            else {
                items = st;
                Py_INCREF(items);
            }
            if (op == 116)
                v = PyList_AsTuple(items);
            else if (op == 108) {
                v = items;
                Py_INCREF(v);
            }
            else
                v = PyObject_CallOneArg(op == 100 ? c.sdict : c.sset, items);
            Py_DECREF(items);
            if (v == NULL) goto error;
            below = meta_pop(meta);
            if (below == NULL) {
                Py_DECREF(v);
                goto error;
            }
            Py_SETREF(st, below);
            if (push_steal(st, v) < 0) goto error;
            i += 1;
            break;
        }
        case 101:    /* e APPENDS */
        case 117:    /* u SETITEMS */
        case 144: {  /* ADDITEMS */
            PyObject *below;
            Py_ssize_t bl;
            if (!meta_ok(meta)) goto done;
            below = PyList_GET_ITEM(meta, PyList_GET_SIZE(meta) - 1);
            bl = PyList_GET_SIZE(below);
            if (bl < 1) goto done;
            tgt = PyList_GET_ITEM(below, bl - 1);
            if (op == 101) {
                if (!PyList_CheckExact(tgt)) goto done;
            }
            else if (op == 117) {
                if ((PyObject *)Py_TYPE(tgt) != c.sdict || (sl & 1)) goto done;
            }
            else if ((PyObject *)Py_TYPE(tgt) != c.sset) goto done;
            if (extend_bounded(tgt, st, c.max_items) < 0) goto error;
            below = meta_pop(meta);
            if (below == NULL) goto error;
            Py_SETREF(st, below);
            i += 1;
            break;
        }
        case 97:  /* a APPEND */
            if (sl < 2) goto done;
            tgt = PyList_GET_ITEM(st, sl - 2);
            if (!PyList_CheckExact(tgt)) goto done;
            if (PyList_GET_SIZE(tgt) < c.max_items && PyList_Append(tgt, PyList_GET_ITEM(st, sl - 1)) < 0)
                goto error;
            if (list_drop(st) < 0) goto error;
            i += 1;
            break;
        case 115:  /* s SETITEM */
            if (sl < 3) goto done;
            tgt = PyList_GET_ITEM(st, sl - 3);
            if ((PyObject *)Py_TYPE(tgt) != c.sdict) goto done;
            if (PyList_GET_SIZE(tgt) < c.max_items) {
                if (PyList_Append(tgt, PyList_GET_ITEM(st, sl - 2)) < 0) goto error;
                if (PyList_Append(tgt, PyList_GET_ITEM(st, sl - 1)) < 0) goto error;
            }
            if (list_drop(st) < 0 || list_drop(st) < 0) goto error;
            i += 1;
            break;

        /* ---------------------------------------------------------- stack manipulation */
        case 48:  /* 0 POP */
            if (sl > 0) {
                if (list_drop(st) < 0) goto error;
            }
            else {  /* C pops the MARK itself when the stack above it is empty */
                if (!meta_ok(meta)) goto done;
                v = meta_pop(meta);
                if (v == NULL) goto error;
                Py_SETREF(st, v);
            }
            i += 1;
            break;
        case 49:  /* 1 POP_MARK */
            if (!meta_ok(meta)) goto done;
            v = meta_pop(meta);
            if (v == NULL) goto error;
            Py_SETREF(st, v);
            i += 1;
            break;
        case 50:  /* 2 DUP */
            if (sl < 1) goto done;
            if (PyList_Append(st, PyList_GET_ITEM(st, sl - 1)) < 0) goto error;
            i += 1;
            break;

        /* ---------------------------------------------------------- memo */
        case 148: {  /* MEMOIZE: C's memo_len; a filled slot is overwritten without counting */
            int had;
            if (sl < 1) goto done;
            v = PyList_GET_ITEM(st, sl - 1);
            key = PyLong_FromLongLong(mlen);
            if (key == NULL) goto error;
            had = PyDict_Contains(memo, key);
            r = had < 0 ? -1 : memo_store(memo, key, v, &c);
            Py_DECREF(key);
            if (r < 0) goto error;
            if (r == 2) goto done;
            if (r == 0)
                dropped = 1;  /* a GET of it yields MISSING */
            if (!had)
                mlen += 1;
            i += 1;
            break;
        }
        case 113:    /* q BINPUT */
        case 114: {  /* r LONG_BINPUT */
            long long size = op == 113 ? 2 : 5;
            if (i + size > n || sl < 1) goto done;
            key = op == 113 ? PyLong_FromLong(b[i + 1]) : PyLong_FromUnsignedLong(rd_u32(b + i + 1));
            if (key == NULL) goto error;
            if (PyDict_GET_SIZE(memo) >= c.memo_full) {
                Py_DECREF(key);
                goto done;  /* beyond memo_full the bounded memo policy of BINPUT stays in Python */
            }
            r = PyDict_Contains(memo, key);
            if (r == 0)
                mlen += 1;
            if (r >= 0)
                r = PyDict_SetItem(memo, key, PyList_GET_ITEM(st, sl - 1));
            Py_DECREF(key);
            if (r < 0) goto error;
            i += size;
            break;
        }
        case 104:    /* h BINGET */
        case 106: {  /* j LONG_BINGET */
            long long size = op == 104 ? 2 : 5;
            if (i + size > n) goto done;
            key = op == 104 ? PyLong_FromLong(b[i + 1]) : PyLong_FromUnsignedLong(rd_u32(b + i + 1));
            if (key == NULL) goto error;
            w = PyDict_GetItemWithError(memo, key);  /* borrowed */
            Py_DECREF(key);
            if (w == NULL) {
                if (PyErr_Occurred()) goto error;
                if (!dropped) goto done;  /* never stored: Malformed in Python */
                w = c.missing;
            }
            if (PyList_Append(st, w) < 0) goto error;
            i += size;
            break;
        }

        default:
            goto done;
        }
        if (var && (PyList_GET_SIZE(st) > c.max_stack || PyList_GET_SIZE(meta) > c.max_stack)) {
            chk = i;  /* Python runs its slow checks after such an argument: let it raise the limit */
            break;
        }
    }
done:
    if (gc_was) PyGC_Enable();
    return Py_BuildValue("(LNLLO)", i, st, mlen, chk, dropped ? Py_True : Py_False);
error:
    if (gc_was) PyGC_Enable();
    Py_DECREF(st);
    return NULL;
}

static PyMethodDef methods[] = {
    {"fast_forward", (PyCFunction)(void (*)(void))fast_forward, METH_FASTCALL,
     "fast_forward(buf, i, chk, fe, base, st, meta, memo, mlen, dropped, cfg) -> (i, st, mlen, chk, dropped)\n\n"
     "Execute data-only pickle opcodes from buf[i] until chk or the first opcode left to Python."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastwalk", "C accelerator for the symbolic pickle machine's data-only opcodes.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__fastwalk(void)
{
    if (str_extend == NULL && (str_extend = PyUnicode_InternFromString("extend")) == NULL)
        return NULL;
    return PyModule_Create(&moduledef);
}
