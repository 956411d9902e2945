/* otelbridge._speedups: the Python binding's hot paths, written against the Python C API.
 *
 *   handler_emit(handler, record)   otelbridge.logging.Handler.emit for one logging.LogRecord
 *   handler_handle(handler, flags, record)
 *                                   Handler.handle (filters only when there are some, then the
 *                                   emit above), bound per instance by Handler.__init__
 *   RecordFactory(previous, after)  the LogRecord factory: exact ns timestamps, one clock read
 *   emit(scope, time_ns, severity, severity_text, body, attrs, event_name, ctx)
 *                                   one log record from loguru / structlog / emit_record
 *   span_start(scope, name, kind, start_ns, parent_kind, parent_span, parent_ctx, trace_state,
 *              attrs) -> (handle, span context bytes) | status
 *   span_end(handle, end_ns) -> status
 *   attrs(attrs, mode) -> AttrArray  an otel_attr array that owns its conversion (.address, len())
 *                                   for the cffi callers (span attributes, events, links, scopes,
 *                                   metrics)
 *   attrs_debug(attrs, mode)        the converted otel_attr array, read back (for tests)
 *
 * The GIL stays HELD across the library calls (otel_log_emit, otel_span_start, otel_span_end).
 * They never block: emit copies the record into a bounded queue and returns (a full queue drops,
 * it never waits), span start/end take a per-span slot and at most a short internal lock held for
 * a copy. Releasing the GIL around a call that short costs more than the call itself, and worse,
 * hands the GIL to another waiting thread on every record (the convoy the cffi binding showed at
 * 4 threads). Holding it also means the Python objects we point into cannot change meanwhile.
 *
 * Attribute conversion (the one implementation for the hot paths): Python values become otel_value
 * views into the Python objects themselves (str via PyUnicode_AsUTF8AndSize, bytes in place), in a
 * stack array for the common case; every object pointed into is kept referenced until the call
 * returns. Rules: str; bool; int (int64 range, else str(v)); float; bytes/bytearray; list/tuple
 * of those (logs: types may mix; spans: one type, else str(v)); anything else str(v), then
 * repr(v), then "<unprintable T>". A str with lone surrogates is encoded with surrogatepass and
 * the library replaces the invalid bytes with U+FFFD. Mode ANY (the opentelemetry-api Logger's
 * OTLP AnyValues) also keeps None (an empty value), mappings (maps) and nested lists (arrays of
 * any values), up to MAX_VALUE_DEPTH levels; deeper ones become str(v). This module never calls
 * logging.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <otelbridge/otelbridge.h>
#include <string.h>
#include <time.h>

#if PY_VERSION_HEX < 0x03090000 /* the vectorcall helpers, for Python 3.8 */
#define PyObject_CallNoArgs(f) PyObject_CallFunctionObjArgs((f), NULL)
#define PyObject_CallOneArg(f, a) PyObject_CallFunctionObjArgs((f), (a), NULL)
#define PyObject_CallMethodNoArgs(o, n) PyObject_CallMethodObjArgs((o), (n), NULL)
#define PyObject_CallMethodOneArg(o, n, a) PyObject_CallMethodObjArgs((o), (n), (a), NULL)
#define PyObject_Vectorcall _PyObject_Vectorcall
#define Py_TPFLAGS_HAVE_VECTORCALL _Py_TPFLAGS_HAVE_VECTORCALL
#endif
#if PY_VERSION_HEX < 0x030A0000 /* Py_NewRef, for Python 3.8 and 3.9 */
static inline PyObject *otb_newref(PyObject *o) {
  Py_INCREF(o);
  return o;
}
#define Py_NewRef(o) otb_newref((PyObject *)(o))
#endif

/* ---- configuration, set once by setup() ---------------------------------------------------- */
static PyObject *g_reserved;    /* frozenset of record keys that are not attributes */
static PyObject *g_event_key;   /* "otel.event.name" */
static PyObject *g_record_type; /* logging.LogRecord */
static PyObject *g_scope_fn;    /* name -> scope address (int), 0 when none */
static PyObject *g_ctx_fn;      /* () -> 32 bytes of otel_span_context, or None */
static PyObject *g_exc_fn;      /* exc_info -> [(key, value)] or None */
static PyObject *g_current;     /* otelbridge.trace's ContextVar */
static PyObject *g_scopes;      /* name -> scope address (int) */
static PyObject *g_level_texts; /* levelname -> bytes */
static PyObject *s_dict, *s_name, *s_msg, *s_args, *s_levelno, *s_levelname, *s_created, *s_ns,
    *s_exc_info, *s_formatter, *s_format, *s_getMessage, *s_code_attributes, *s_pathname,
    *s_funcName, *s_lineno, *s_api_mod, *s_cb, *s_filters, *s_filter, *s_emit, *s_handleError,
    *s_msecs;

/* Re-entrancy of Handler.emit, per OS thread (the GIL is held, so this is the Python thread). */
#define MAX_DEPTH 2
static _Thread_local int t_depth;

/* ---- the converter ------------------------------------------------------------------------- */
#define STACK_ATTRS 16
#define STACK_REFS 64

typedef struct {
  otel_attr *attrs;
  Py_ssize_t n, cap;
  PyObject **refs; /* owned references, released by conv_free */
  Py_ssize_t nrefs, caprefs;
  void **mem; /* PyMem blocks (array items) */
  Py_ssize_t nmem, capmem;
  int homogeneous; /* spans: arrays of one type only */
  int any;         /* ANY mode: None, maps and nested arrays kept (OTLP AnyValues) */
  otel_attr stack_attrs[STACK_ATTRS];
  PyObject *stack_refs[STACK_REFS];
} conv_t;

static void conv_init(conv_t *c, int homogeneous) {
  c->attrs = c->stack_attrs;
  c->n = 0;
  c->cap = STACK_ATTRS;
  c->refs = c->stack_refs;
  c->nrefs = 0;
  c->caprefs = STACK_REFS;
  c->mem = NULL;
  c->nmem = c->capmem = 0;
  c->homogeneous = homogeneous;
  c->any = 0;
}

/* The conversion modes of attrs() / attrs_debug() / emit(). */
#define MODE_LOGS 0  /* the attribute types; arrays may mix them */
#define MODE_SPANS 1 /* the attribute types; arrays of one type */
#define MODE_ANY 2   /* OTLP AnyValues (the opentelemetry-api Logger) */
#define MAX_VALUE_DEPTH 16

static int conv_mode(PyObject *o, int *mode) {
  long m = PyLong_AsLong(o);
  if (m == -1 && PyErr_Occurred()) return -1;
  if (m < MODE_LOGS || m > MODE_ANY) {
    PyErr_SetString(PyExc_ValueError, "mode must be 0 (logs), 1 (spans) or 2 (any)");
    return -1;
  }
  *mode = (int)m;
  return 0;
}

static void conv_init_mode(conv_t *c, int mode) {
  conv_init(c, mode == MODE_SPANS);
  c->any = mode == MODE_ANY;
}

static void conv_free(conv_t *c) {
  Py_ssize_t i;
  for (i = 0; i < c->nrefs; i++) Py_DECREF(c->refs[i]);
  for (i = 0; i < c->nmem; i++) PyMem_Free(c->mem[i]);
  PyMem_Free(c->mem);
  if (c->refs != c->stack_refs) PyMem_Free(c->refs);
  if (c->attrs != c->stack_attrs) PyMem_Free(c->attrs);
}

/* Keeps obj (a new reference, stolen) alive until conv_free. NULL passes an error through. */
static int hold(conv_t *c, PyObject *obj) {
  if (obj == NULL) return -1;
  if (c->nrefs == c->caprefs) {
    Py_ssize_t cap = c->caprefs * 2;
    PyObject **r = PyMem_Malloc((size_t)cap * sizeof(PyObject *));
    if (r == NULL) {
      Py_DECREF(obj);
      PyErr_NoMemory();
      return -1;
    }
    memcpy(r, c->refs, (size_t)c->nrefs * sizeof(PyObject *));
    if (c->refs != c->stack_refs) PyMem_Free(c->refs);
    c->refs = r;
    c->caprefs = cap;
  }
  c->refs[c->nrefs++] = obj;
  return 0;
}

static void *conv_alloc(conv_t *c, size_t size) {
  void *p;
  if (c->nmem == c->capmem) {
    Py_ssize_t cap = c->capmem ? c->capmem * 2 : 4;
    void **m = PyMem_Realloc(c->mem, (size_t)cap * sizeof(void *));
    if (m == NULL) {
      PyErr_NoMemory();
      return NULL;
    }
    c->mem = m;
    c->capmem = cap;
  }
  p = PyMem_Malloc(size ? size : 1);
  if (p == NULL) {
    PyErr_NoMemory();
    return NULL;
  }
  c->mem[c->nmem++] = p;
  return p;
}

/* The next attribute slot (valid until the next call). */
static otel_attr *new_attr(conv_t *c) {
  if (c->n == c->cap) {
    Py_ssize_t cap = c->cap * 2;
    otel_attr *a = PyMem_Malloc((size_t)cap * sizeof(otel_attr));
    if (a == NULL) {
      PyErr_NoMemory();
      return NULL;
    }
    memcpy(a, c->attrs, (size_t)c->n * sizeof(otel_attr));
    if (c->attrs != c->stack_attrs) PyMem_Free(c->attrs);
    c->attrs = a;
    c->cap = cap;
  }
  memset(&c->attrs[c->n], 0, sizeof(otel_attr));
  return &c->attrs[c->n++];
}

/* str(v), else repr(v), else "<unprintable T>" (a new reference; NULL only for errors that are
 * not Exceptions, e.g. KeyboardInterrupt, or no memory). */
static PyObject *safe_str(PyObject *v) {
  PyObject *s = PyObject_Str(v);
  if (s != NULL) return s;
  if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
  PyErr_Clear();
  s = PyObject_Repr(v);
  if (s != NULL) return s;
  if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
  PyErr_Clear();
  {
    PyObject *tn = PyObject_GetAttrString((PyObject *)Py_TYPE(v), "__name__");
    if (tn == NULL) {
      PyErr_Clear();
      return PyUnicode_FromFormat("<unprintable %s>", Py_TYPE(v)->tp_name);
    }
    s = PyUnicode_FromFormat("<unprintable %S>", tn);
    Py_DECREF(tn);
    return s;
  }
}

/* A view of str s (kept alive by the caller): its cached UTF-8, or, when it holds lone
 * surrogates, a held surrogatepass encoding. */
static int str_view(conv_t *c, PyObject *s, otel_str *out) {
  Py_ssize_t len;
  const char *p = PyUnicode_AsUTF8AndSize(s, &len);
  if (p == NULL) {
    PyObject *b;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
    PyErr_Clear();
    b = PyUnicode_AsEncodedString(s, "utf-8", "surrogatepass");
    if (hold(c, b) < 0) return -1;
    p = PyBytes_AS_STRING(b);
    len = PyBytes_GET_SIZE(b);
  }
  out->ptr = p;
  out->len = (size_t)len;
  return 0;
}

static int str_of(conv_t *c, PyObject *v, otel_str *out) {
  PyObject *s;
  if (PyUnicode_Check(v)) return str_view(c, v, out);
  s = safe_str(v);
  if (hold(c, s) < 0) return -1;
  return str_view(c, s, out);
}

/* The attribute type class of an array element: 1 str, 2 bool, 3 int (int64), 4 float, 5 bytes;
 * 0 for anything else. *big is set for an int out of the int64 range (kind 3, converted to str). */
static int prim_kind(PyObject *x, int *big) {
  *big = 0;
  if (PyUnicode_Check(x)) return 1;
  if (PyBool_Check(x)) return 2;
  if (PyLong_Check(x)) {
    int of = 0;
    long long v = PyLong_AsLongLongAndOverflow(x, &of);
    if (v == -1 && PyErr_Occurred()) PyErr_Clear();
    *big = of != 0;
    return 3;
  }
  if (PyFloat_Check(x)) return 4;
  if (PyBytes_Check(x) || PyByteArray_Check(x)) return 5;
  return 0;
}

static int set_value(conv_t *c, otel_value *out, PyObject *v);

static int set_scalar(conv_t *c, otel_value *out, PyObject *v, int *done) {
  *done = 1;
  if (PyUnicode_Check(v)) {
    out->type = OTEL_VALUE_STRING;
    return str_view(c, v, &out->u.str);
  }
  if (PyBool_Check(v)) {
    out->type = OTEL_VALUE_BOOL;
    out->u.boolean = v == Py_True;
    return 0;
  }
  if (PyLong_Check(v)) {
    int of = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &of);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (!of) {
      out->type = OTEL_VALUE_INT;
      out->u.i64 = x;
      return 0;
    }
    *done = 0; /* out of the int64 range: str(v) */
    return 0;
  }
  if (PyFloat_Check(v)) {
    out->type = OTEL_VALUE_DOUBLE;
    out->u.f64 = PyFloat_AS_DOUBLE(v);
    return 0;
  }
  if (PyBytes_Check(v)) {
    out->type = OTEL_VALUE_BYTES;
    out->u.bytes.ptr = PyBytes_AS_STRING(v);
    out->u.bytes.len = (size_t)PyBytes_GET_SIZE(v);
    return 0;
  }
  if (PyByteArray_Check(v)) { /* copied: a bytearray may be resized by later Python code */
    PyObject *b = PyBytes_FromStringAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v));
    if (hold(c, b) < 0) return -1;
    out->type = OTEL_VALUE_BYTES;
    out->u.bytes.ptr = PyBytes_AS_STRING(b);
    out->u.bytes.len = (size_t)PyBytes_GET_SIZE(b);
    return 0;
  }
  *done = 0;
  return 0;
}

/* Makes out an array of zeroed values for the items of list/tuple v (*vals; NULL when empty),
 * the items held first (converting one may run Python code that mutates the list): they are
 * c->refs[*base .. *base + n). Returns n, or -1 on error. */
static Py_ssize_t array_items(conv_t *c, otel_value *out, PyObject *v, otel_value **vals,
                              Py_ssize_t *base) {
  PyObject **items = PySequence_Fast_ITEMS(v);
  Py_ssize_t i, n = PySequence_Fast_GET_SIZE(v);
  out->type = OTEL_VALUE_ARRAY;
  out->u.array.items = *vals = NULL;
  out->u.array.len = 0;
  *base = c->nrefs;
  if (n == 0) return 0;
  *vals = conv_alloc(c, (size_t)n * sizeof(otel_value));
  if (*vals == NULL) return -1;
  memset(*vals, 0, (size_t)n * sizeof(otel_value));
  for (i = 0; i < n; i++) {
    Py_INCREF(items[i]);
    if (hold(c, items[i]) < 0) return -1;
  }
  *base = c->nrefs - n;
  out->u.array.items = *vals;
  out->u.array.len = (size_t)n;
  return n;
}

/* A list/tuple of attribute primitives as an array; *done = 0 when it is not one (-> str(v)).
 * No Python code runs while the items are read; the items pointed into are held. */
static int set_array(conv_t *c, otel_value *out, PyObject *v, int *done) {
  Py_ssize_t n = PySequence_Fast_GET_SIZE(v), i, base;
  PyObject **items = PySequence_Fast_ITEMS(v);
  otel_value *vals;
  int first = -1, big;
  *done = 0;
  for (i = 0; i < n; i++) {
    int k = prim_kind(items[i], &big);
    if (k == 0) return 0;
    if (c->homogeneous) {
      if (big) return 0;
      if (first < 0)
        first = k;
      else if (k != first)
        return 0;
    }
  }
  *done = 1;
  if (array_items(c, out, v, &vals, &base) < 0) return -1;
  for (i = 0; i < n; i++) {
    int sd;
    if (set_scalar(c, &vals[i], c->refs[base + i], &sd) < 0) return -1;
    if (!sd) { /* an int out of the int64 range: str() */
      PyObject *s = PyObject_Str(c->refs[base + i]);
      if (hold(c, s) < 0) return -1;
      vals[i].type = OTEL_VALUE_STRING;
      if (str_view(c, s, &vals[i].u.str) < 0) return -1;
    }
  }
  return 0;
}

static int set_any(conv_t *c, otel_value *out, PyObject *v, int depth);

/* A mapping's (key, value) pairs as a held list (a snapshot: converting may run Python code). */
static PyObject *items_list(conv_t *c, PyObject *m) {
  PyObject *items, *seq;
  if (PyDict_Check(m)) {
    seq = PyDict_Items(m);
  } else {
    items = PyObject_CallMethod(m, "items", NULL);
    if (items == NULL) return NULL;
    seq = PySequence_List(items);
    Py_DECREF(items);
  }
  if (hold(c, seq) < 0) return NULL;
  return seq;
}

/* 1 when v has the attribute, 0 when not (an Exception from the lookup counts as "not": the
 * value is then converted with str()), -1 for an error that is not an Exception
 * (KeyboardInterrupt, SystemExit, MemoryError), which the caller passes on. Not
 * PyObject_HasAttrString: that one swallows every error. */
static int has_attr(PyObject *v, const char *name) {
  PyObject *a = PyObject_GetAttrString(v, name);
  if (a != NULL) {
    Py_DECREF(a);
    return 1;
  }
  if (!PyErr_ExceptionMatches(PyExc_Exception) || PyErr_ExceptionMatches(PyExc_MemoryError))
    return -1;
  PyErr_Clear();
  return 0;
}

/* 1 for a dict or an object with items() and keys(), 0 if not, -1 on an error to pass on. */
static int is_mapping(PyObject *v) {
  int r;
  if (PyDict_Check(v)) return 1;
  if ((r = has_attr(v, "items")) <= 0) return r;
  return has_attr(v, "keys");
}

/* ANY mode: None -> empty, list/tuple -> array of any values, mapping -> map (depth-limited),
 * the attribute types as set_scalar; anything else (and too deep a nesting) str(v). */
static int set_any(conv_t *c, otel_value *out, PyObject *v, int depth) {
  int done;
  Py_ssize_t i, n, base;
  if (v == Py_None) {
    out->type = OTEL_VALUE_EMPTY;
    return 0;
  }
  if (set_scalar(c, out, v, &done) < 0) return -1;
  if (done) return 0;
  if ((PyList_Check(v) || PyTuple_Check(v)) && depth < MAX_VALUE_DEPTH) {
    otel_value *vals;
    if ((n = array_items(c, out, v, &vals, &base)) < 0) return -1;
    for (i = 0; i < n; i++)
      if (set_any(c, &vals[i], c->refs[base + i], depth + 1) < 0) return -1;
    return 0;
  }
  if (!PyList_Check(v) && !PyTuple_Check(v) && depth < MAX_VALUE_DEPTH &&
      (n = is_mapping(v)) != 0) {
    otel_attr *kv;
    PyObject *seq;
    if (n < 0) return -1;
    seq = items_list(c, v);
    if (seq == NULL) return -1;
    n = PyList_GET_SIZE(seq);
    out->type = OTEL_VALUE_MAP;
    out->u.map.items = NULL;
    out->u.map.len = 0;
    if (n == 0) return 0;
    kv = conv_alloc(c, (size_t)n * sizeof(otel_attr));
    if (kv == NULL) return -1;
    memset(kv, 0, (size_t)n * sizeof(otel_attr));
    for (i = 0; i < n; i++) {
      PyObject *pair = PyList_GET_ITEM(seq, i);
      if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
        PyErr_SetString(PyExc_TypeError, "a mapping's items() must be (key, value) pairs");
        return -1;
      }
      if (str_of(c, PyTuple_GET_ITEM(pair, 0), &kv[i].key) < 0) return -1;
      if (set_any(c, &kv[i].value, PyTuple_GET_ITEM(pair, 1), depth + 1) < 0) return -1;
    }
    out->u.map.items = kv;
    out->u.map.len = (size_t)n;
    return 0;
  }
  out->type = OTEL_VALUE_STRING;
  return str_of(c, v, &out->u.str);
}

/* v must stay alive until conv_free (the caller holds it). */
static int set_value(conv_t *c, otel_value *out, PyObject *v) {
  int done;
  if (c->any) return set_any(c, out, v, 1);
  if (set_scalar(c, out, v, &done) < 0) return -1;
  if (done) return 0;
  if (PyList_Check(v) || PyTuple_Check(v)) {
    if (set_array(c, out, v, &done) < 0) return -1;
    if (done) return 0;
  }
  out->type = OTEL_VALUE_STRING;
  return str_of(c, v, &out->u.str);
}

/* Appends one attribute; key and value must be held by the caller. */
static int add_attr(conv_t *c, PyObject *key, PyObject *value) {
  otel_str k;
  otel_value val;
  otel_attr *a;
  memset(&val, 0, sizeof val);
  if (str_of(c, key, &k) < 0) return -1;
  if (set_value(c, &val, value) < 0) return -1;
  a = new_attr(c);
  if (a == NULL) return -1;
  a->key = k;
  a->value = val;
  return 0;
}

static int add_attr_cstr(conv_t *c, const char *key, PyObject *value) {
  otel_value val;
  otel_attr *a;
  memset(&val, 0, sizeof val);
  if (set_value(c, &val, value) < 0) return -1;
  a = new_attr(c);
  if (a == NULL) return -1;
  a->key.ptr = key;
  a->key.len = strlen(key);
  a->value = val;
  return 0;
}

/* attrs: a dict, a list/tuple of (key, value) pairs, another mapping (.items()), or None. */
static int add_attrs(conv_t *c, PyObject *attrs) {
  PyObject *seq;
  Py_ssize_t i, n;
  if (attrs == NULL || attrs == Py_None) return 0;
  if (PyDict_Check(attrs)) {
    /* Snapshot first (no Python code runs here), then convert: a __str__ may mutate the dict. */
    Py_ssize_t pos = 0, start = c->nrefs;
    PyObject *k, *v;
    while (PyDict_Next(attrs, &pos, &k, &v)) {
      Py_INCREF(k);
      if (hold(c, k) < 0) return -1;
      Py_INCREF(v);
      if (hold(c, v) < 0) return -1;
    }
    n = c->nrefs - start;
    for (i = 0; i < n; i += 2)
      if (add_attr(c, c->refs[start + i], c->refs[start + i + 1]) < 0) return -1;
    return 0;
  }
  if (PyList_Check(attrs) || PyTuple_Check(attrs)) {
    Py_INCREF(attrs);
    seq = attrs;
  } else {
    PyObject *items = PyObject_CallMethod(attrs, "items", NULL);
    if (items == NULL) return -1;
    seq = PySequence_List(items);
    Py_DECREF(items);
    if (seq == NULL) return -1;
  }
  if (PyList_Check(seq)) { /* a copy: the caller's list may change while we convert */
    PyObject *copy = PyList_GetSlice(seq, 0, PyList_GET_SIZE(seq));
    Py_DECREF(seq);
    seq = copy;
  }
  if (hold(c, seq) < 0) return -1;
  n = PySequence_Fast_GET_SIZE(seq);
  for (i = 0; i < n; i++) {
    PyObject *pair = PySequence_Fast_GET_ITEM(seq, i);
    if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
      PyErr_SetString(PyExc_TypeError, "attributes: expected (key, value) pairs");
      return -1;
    }
    if (add_attr(c, PyTuple_GET_ITEM(pair, 0), PyTuple_GET_ITEM(pair, 1)) < 0) return -1;
  }
  return 0;
}

/* ---- shared helpers ------------------------------------------------------------------------ */

static int severity_of(long levelno) {
  static const int bands[6] = {0, 5, 9, 13, 17, 21};
  if (levelno < 1) return 0;
  if (levelno < 10) return levelno <= 5 ? 1 : (levelno - 4 < 4 ? (int)levelno - 4 : 4);
  if (levelno > 53) return 24;
  return bands[levelno / 10] + (int)(levelno % 10 < 3 ? levelno % 10 : 3);
}

/* The severity text for a level name (WARNING -> WARN, CRITICAL -> FATAL), cached as bytes
 * (up to 256 names; past that, encoded per call and held by c). */
static int level_text(conv_t *c, PyObject *name, otel_str *out) {
  PyObject *b = PyDict_GetItemWithError(g_level_texts, name);
  if (b == NULL) {
    if (PyErr_Occurred()) return -1;
    if (!PyUnicode_Check(name)) {
      PyErr_SetString(PyExc_TypeError, "levelname must be a str");
      return -1;
    }
    if (PyUnicode_CompareWithASCIIString(name, "WARNING") == 0)
      b = PyBytes_FromString("WARN");
    else if (PyUnicode_CompareWithASCIIString(name, "CRITICAL") == 0)
      b = PyBytes_FromString("FATAL");
    else
      b = PyUnicode_AsEncodedString(name, "utf-8", "surrogatepass");
    if (b == NULL) return -1;
    if (PyDict_GET_SIZE(g_level_texts) < 256 && PyDict_SetItem(g_level_texts, name, b) < 0) {
      Py_DECREF(b);
      return -1;
    }
    if (hold(c, b) < 0) return -1;
  }
  out->ptr = PyBytes_AS_STRING(b);
  out->len = (size_t)PyBytes_GET_SIZE(b);
  return 0;
}

/* The trace context for a record emitted now: the innermost current span's (otelbridge.trace's
 * rule). Fast path: no current span and opentelemetry.trace never imported: none. A native span
 * current and no opentelemetry: its cached context bytes (Span._cb). Otherwise trace's Python
 * function decides. */
static int current_ctx(otel_span_context *out) {
  PyObject *v = NULL, *mods, *r;
  int api;
  memset(out, 0, sizeof *out);
  if (PyContextVar_Get(g_current, Py_None, &v) < 0) return -1;
  mods = PyImport_GetModuleDict();
  api = PyDict_Contains(mods, s_api_mod);
  if (api < 0) {
    Py_DECREF(v);
    return -1;
  }
  if (!api) {
    if (v == Py_None) {
      Py_DECREF(v);
      return 0;
    }
    if (PyTuple_Check(v) && PyTuple_GET_SIZE(v) == 2) {
      PyObject *cb = PyObject_GetAttr(PyTuple_GET_ITEM(v, 0), s_cb);
      if (cb == NULL)
        PyErr_Clear();
      else if (PyBytes_Check(cb) && PyBytes_GET_SIZE(cb) == (Py_ssize_t)sizeof *out) {
        memcpy(out, PyBytes_AS_STRING(cb), sizeof *out);
        Py_DECREF(cb);
        Py_DECREF(v);
        return 0;
      }
      Py_XDECREF(cb);
    }
  }
  Py_DECREF(v);
  r = PyObject_CallNoArgs(g_ctx_fn);
  if (r == NULL) return -1;
  if (PyBytes_Check(r) && PyBytes_GET_SIZE(r) == (Py_ssize_t)sizeof *out)
    memcpy(out, PyBytes_AS_STRING(r), sizeof *out);
  Py_DECREF(r);
  return 0;
}

static int ctx_arg(PyObject *arg, otel_span_context *out) {
  if (arg == Py_None) return current_ctx(out);
  if (!PyBytes_Check(arg) || PyBytes_GET_SIZE(arg) != (Py_ssize_t)sizeof *out) {
    PyErr_SetString(PyExc_TypeError, "ctx must be None or 32 bytes (otel_span_context)");
    return -1;
  }
  memcpy(out, PyBytes_AS_STRING(arg), sizeof *out);
  return 0;
}

static void *addr_of(PyObject *o) {
  return PyLong_Check(o) ? PyLong_AsVoidPtr(o) : NULL;
}

/* An int32 argument of the ABI (severity, kinds): 0 with *out set, 1 when o is an int beyond
 * int32 (the caller returns OTEL_E_INVALID_ARG, as the library does for other bad values: never
 * truncated into a valid one), -1 on an error (not an int). */
static int i32_arg(PyObject *o, int32_t *out) {
  int of = 0;
  long long v = PyLong_AsLongLongAndOverflow(o, &of);
  if (v == -1 && PyErr_Occurred()) return -1;
  if (of || v < INT32_MIN || v > INT32_MAX) return 1;
  *out = (int32_t)v;
  return 0;
}

/* Looks a record attribute up in its __dict__ first, then as an attribute (a new reference). */
static PyObject *rec_get(PyObject *record, PyObject *dict, PyObject *key) {
  PyObject *v = dict ? PyDict_GetItemWithError(dict, key) : NULL;
  if (v != NULL) {
    Py_INCREF(v);
    return v;
  }
  if (PyErr_Occurred()) return NULL;
  return PyObject_GetAttr(record, key);
}

/* The record's time in ns: _otelbridge_ns when it is the instant record.created says (the
 * record factory's), else int(created * 1e9). */
static int record_time(PyObject *record, PyObject *dict, uint64_t *out) {
  PyObject *created = rec_get(record, dict, s_created), *ns;
  double cr;
  if (created == NULL) return -1;
  cr = PyFloat_AsDouble(created);
  Py_DECREF(created);
  if (cr == -1.0 && PyErr_Occurred()) return -1;
  ns = PyDict_GetItemWithError(dict, s_ns);
  if (ns == NULL && PyErr_Occurred()) return -1;
  if (ns != NULL && PyLong_Check(ns)) {
    unsigned long long v = PyLong_AsUnsignedLongLong(ns);
    if (v == (unsigned long long)-1 && PyErr_Occurred())
      PyErr_Clear();
    else if ((double)v / 1e9 == cr) {
      *out = v;
      return 0;
    }
  }
  cr *= 1e9;
  *out = cr > 0 && cr < 1.8e19 ? (uint64_t)cr : 0;
  return 0;
}

/* ---- handler_emit -------------------------------------------------------------------------- */

static PyObject *get_body(PyObject *handler, PyObject *record, PyObject *dict) {
  PyObject *fmt = PyObject_GetAttr(handler, s_formatter);
  if (fmt == NULL) return NULL;
  if (fmt != Py_None) {
    Py_DECREF(fmt);
    return PyObject_CallMethodOneArg(handler, s_format, record);
  }
  Py_DECREF(fmt);
  if (Py_TYPE(record) == (PyTypeObject *)g_record_type) {
    /* LogRecord.getMessage without the call: str(msg), % args only when there are args. */
    PyObject *msg = PyDict_GetItemWithError(dict, s_msg);
    PyObject *args = msg ? PyDict_GetItemWithError(dict, s_args) : NULL;
    if (msg != NULL && args != NULL &&
        (args == Py_None || (PyTuple_CheckExact(args) && PyTuple_GET_SIZE(args) == 0))) {
      if (PyUnicode_CheckExact(msg)) {
        Py_INCREF(msg);
        return msg;
      }
      return PyObject_Str(msg);
    }
    if (PyErr_Occurred()) return NULL;
  }
  return PyObject_CallMethodNoArgs(record, s_getMessage);
}

static PyObject *do_handler_emit(PyObject *handler, PyObject *record) {
  conv_t c;
  PyObject *dict, *name, *scope_o, *body = NULL, *lv, *lname, *k, *v, *event = NULL, *o;
  Py_ssize_t pos = 0, start, i, npairs;
  otel_scope *scope;
  otel_value bodyv;
  otel_str sevtext, ev = {NULL, 0};
  otel_span_context ctx;
  uint64_t t;
  long levelno;
  int ca;

  dict = PyObject_GetAttr(record, s_dict);
  if (dict == NULL) return NULL;
  if (!PyDict_Check(dict)) {
    Py_DECREF(dict);
    PyErr_SetString(PyExc_TypeError, "record.__dict__ is not a dict");
    return NULL;
  }
  conv_init(&c, 0);
  if (hold(&c, dict) < 0) goto fail;

  name = rec_get(record, dict, s_name);
  if (hold(&c, name) < 0) goto fail;
  scope_o = PyDict_GetItemWithError(g_scopes, name);
  if (scope_o == NULL) {
    if (PyErr_Occurred()) goto fail;
    scope_o = PyObject_CallOneArg(g_scope_fn, name);
    if (hold(&c, scope_o) < 0) goto fail;
    if (!PyLong_Check(scope_o) || addr_of(scope_o) == NULL) {
      PyErr_Clear();
      conv_free(&c);
      Py_RETURN_NONE; /* before configure() or after shutdown(): dropped */
    }
    if (PyDict_SetItem(g_scopes, name, scope_o) < 0) goto fail;
  }
  scope = addr_of(scope_o);

  body = get_body(handler, record, dict);
  if (hold(&c, body) < 0) goto fail;
  memset(&bodyv, 0, sizeof bodyv);
  if (set_value(&c, &bodyv, body) < 0) goto fail;

  lv = rec_get(record, dict, s_levelno);
  if (hold(&c, lv) < 0) goto fail;
  levelno = PyLong_AsLong(lv);
  if (levelno == -1 && PyErr_Occurred()) goto fail;
  lname = rec_get(record, dict, s_levelname);
  if (hold(&c, lname) < 0) goto fail;
  if (level_text(&c, lname, &sevtext) < 0) goto fail;
  if (record_time(record, dict, &t) < 0) goto fail;

  /* Extras: snapshot the (key, value) pairs (no Python code runs in this loop), then convert. */
  start = c.nrefs;
  while (PyDict_Next(dict, &pos, &k, &v)) {
    if (PyUnicode_CheckExact(k)) {
      int r = PySet_Contains(g_reserved, k);
      if (r < 0) goto fail;
      if (r) continue;
      if (event == NULL && PyUnicode_Compare(k, g_event_key) == 0) {
        event = v;
        continue;
      }
    }
    Py_INCREF(k);
    if (hold(&c, k) < 0) goto fail;
    Py_INCREF(v);
    if (hold(&c, v) < 0) goto fail;
  }
  npairs = c.nrefs - start;
  if (event != NULL) {
    Py_INCREF(event);
    if (hold(&c, event) < 0) goto fail;
  }
  for (i = 0; i < npairs; i += 2)
    if (add_attr(&c, c.refs[start + i], c.refs[start + i + 1]) < 0) goto fail;
  if (event != NULL && str_of(&c, event, &ev) < 0) goto fail;

  o = PyObject_GetAttr(handler, s_code_attributes);
  if (o == NULL) goto fail;
  ca = PyObject_IsTrue(o);
  Py_DECREF(o);
  if (ca < 0) goto fail;
  if (ca) {
    static const char *keys[3] = {"code.file.path", "code.function.name", "code.line.number"};
    PyObject *names[3] = {s_pathname, s_funcName, s_lineno};
    for (i = 0; i < 3; i++) {
      o = rec_get(record, dict, names[i]);
      if (hold(&c, o) < 0) goto fail;
      if (add_attr_cstr(&c, keys[i], o) < 0) goto fail;
    }
  }
  o = PyDict_GetItemWithError(dict, s_exc_info);
  if (o == NULL && PyErr_Occurred()) goto fail;
  if (o != NULL && o != Py_None && o != Py_False) {
    o = PyObject_CallOneArg(g_exc_fn, o);
    if (hold(&c, o) < 0) goto fail;
    if (add_attrs(&c, o) < 0) goto fail;
  }
  if (current_ctx(&ctx) < 0) goto fail;

  /* GIL held: otel_log_emit only copies the record into the engine's queue (see the top). */
  (void)otel_log_emit(scope, t, 0, (int32_t)severity_of(levelno), sevtext, &bodyv, c.attrs,
                      (size_t)c.n, ev, &ctx);
  conv_free(&c);
  Py_RETURN_NONE;
fail:
  conv_free(&c);
  return NULL;
}

static PyObject *handler_emit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  PyObject *r;
  (void)self;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "handler_emit(handler, record)");
    return NULL;
  }
  if (g_reserved == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "otelbridge._speedups.setup() was not called");
    return NULL;
  }
  if (t_depth >= MAX_DEPTH) Py_RETURN_NONE; /* logged from inside emit, twice: dropped */
  t_depth++;
  r = do_handler_emit(args[0], args[1]);
  t_depth--;
  return r;
}

/* Calls handler.handleError(record) with the current exception as the one being handled (as an
 * `except Exception:` block would: logging reads it from sys.exc_info()); swallows what that
 * raises unless it is not an Exception (KeyboardInterrupt, SystemExit pass through). */
static int handle_error(PyObject *handler, PyObject *record) {
  PyObject *t, *v, *tb, *ot, *ov, *otb, *r;
  PyErr_Fetch(&t, &v, &tb);
  PyErr_NormalizeException(&t, &v, &tb);
  if (tb != NULL && v != NULL) PyException_SetTraceback(v, tb);
  PyErr_GetExcInfo(&ot, &ov, &otb);
  PyErr_SetExcInfo(t, v, tb); /* steals */
  r = PyObject_CallMethodOneArg(handler, s_handleError, record);
  PyErr_SetExcInfo(ot, ov, otb);
  if (r != NULL) {
    Py_DECREF(r);
    return 0;
  }
  if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
  PyErr_Clear();
  return 0;
}

/* handler_handle(handler, flags, record): otelbridge.logging.Handler.handle in one C call, bound
 * per instance (functools.partial) by Handler.__init__. Filters run only when there are some
 * (handler.filters non-empty, or flags & 2: the class overrides filter); a filter's result that
 * is a LogRecord replaces the record (the Python 3.12 rule). Then flags & 1 (the class overrides
 * emit): handler.emit(record); else the C emit, an Exception from it going to handleError and a
 * RecursionError (or a BaseException) propagating, as Handler.emit does. Returns what
 * Handler.handle returns: the filter's result (no filters: True before 3.12, the record after). */
static PyObject *handler_handle(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  PyObject *handler, *record, *rv, *filters, *r;
  long flags;
  int run_filters;
  (void)self;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "handler_handle(handler, flags, record)");
    return NULL;
  }
  if (g_reserved == NULL) {
    PyErr_SetString(PyExc_RuntimeError, "otelbridge._speedups.setup() was not called");
    return NULL;
  }
  handler = args[0];
  record = args[2];
  flags = PyLong_AsLong(args[1]);
  if (flags == -1 && PyErr_Occurred()) return NULL;
  run_filters = (flags & 2) != 0;
  if (!run_filters) {
    filters = PyObject_GetAttr(handler, s_filters);
    if (filters == NULL) return NULL;
    if (PyList_CheckExact(filters))
      run_filters = PyList_GET_SIZE(filters) != 0;
    else
      run_filters = PyObject_IsTrue(filters);
    Py_DECREF(filters);
    if (run_filters < 0) return NULL;
  }
  Py_INCREF(record);
  if (run_filters) {
    int ok;
    rv = PyObject_CallMethodOneArg(handler, s_filter, record);
    if (rv == NULL) goto fail;
    ok = PyObject_IsTrue(rv);
    if (ok <= 0) {
      Py_DECREF(record);
      if (ok < 0) Py_CLEAR(rv);
      return rv;
    }
    if (PyObject_TypeCheck(rv, (PyTypeObject *)g_record_type)) {
      Py_INCREF(rv);
      Py_SETREF(record, rv);
    }
  } else {
#if PY_VERSION_HEX >= 0x030C0000
    rv = Py_NewRef(record);
#else
    rv = Py_NewRef(Py_True);
#endif
  }
  if (flags & 1) {
    r = PyObject_CallMethodOneArg(handler, s_emit, record);
    if (r == NULL) goto fail_rv;
    Py_DECREF(r);
  } else if (t_depth < MAX_DEPTH) { /* deeper: logged from inside emit, twice: dropped */
    t_depth++;
    r = do_handler_emit(handler, record);
    t_depth--;
    if (r != NULL) {
      Py_DECREF(r);
    } else if (PyErr_ExceptionMatches(PyExc_RecursionError) ||
               !PyErr_ExceptionMatches(PyExc_Exception) || handle_error(handler, record) < 0) {
      goto fail_rv;
    }
  }
  Py_DECREF(record);
  return rv;
fail_rv:
  Py_DECREF(rv);
fail:
  Py_DECREF(record);
  return NULL;
}

/* ---- the record factory -------------------------------------------------------------------- */

/* RecordFactory(previous): a LogRecord factory wrapping the previous one. It reads the clock
 * (CLOCK_REALTIME, ns) before calling it; unless the record's created is a second or more away
 * from that instant (a factory that set its own time), it sets created = ns / 1e9,
 * msecs = (ns % 1e9) // 1e6 and _otelbridge_ns = ns (Python 3.13's rule, one instant). Then
 * `after(record)` when after is not None (the opt-in correlation fields, in Python). */
typedef struct {
  PyObject_HEAD PyObject *prev;
  PyObject *after;
  vectorcallfunc vectorcall;
} Factory;

static PyObject *factory_vectorcall(PyObject *self, PyObject *const *args, size_t nargsf,
                                    PyObject *kwnames) {
  Factory *f = (Factory *)self;
  struct timespec ts;
  unsigned long long ns;
  PyObject *rec, *o;
  double created, cr;
  clock_gettime(CLOCK_REALTIME, &ts);
  ns = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
  rec = PyObject_Vectorcall(f->prev, args, nargsf, kwnames);
  if (rec == NULL) return NULL;
  created = (double)ns / 1e9;
  o = PyObject_GetAttr(rec, s_created);
  if (o == NULL) goto fail;
  cr = PyFloat_AsDouble(o);
  Py_DECREF(o);
  if (cr == -1.0 && PyErr_Occurred()) goto fail;
  if (cr - created < 1.0 && created - cr < 1.0) {
    PyObject *c = PyFloat_FromDouble(created),
             *m = PyFloat_FromDouble((double)((ns % 1000000000ull) / 1000000ull)),
             *n = PyLong_FromUnsignedLongLong(ns);
    int err = c == NULL || m == NULL || n == NULL || PyObject_SetAttr(rec, s_created, c) < 0 ||
              PyObject_SetAttr(rec, s_msecs, m) < 0 || PyObject_SetAttr(rec, s_ns, n) < 0;
    Py_XDECREF(c);
    Py_XDECREF(m);
    Py_XDECREF(n);
    if (err) goto fail;
  }
  if (f->after != NULL && f->after != Py_None) {
    o = PyObject_CallOneArg(f->after, rec);
    if (o == NULL) goto fail;
    Py_DECREF(o);
  }
  return rec;
fail:
  Py_DECREF(rec);
  return NULL;
}

static PyObject *factory_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  PyObject *prev, *after = Py_None;
  Factory *f;
  static char *kw[] = {"previous", "after", NULL};
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:RecordFactory", kw, &prev, &after)) return NULL;
  if (!PyCallable_Check(prev) || (after != Py_None && !PyCallable_Check(after))) {
    PyErr_SetString(PyExc_TypeError, "RecordFactory: previous and after must be callable");
    return NULL;
  }
  f = (Factory *)type->tp_alloc(type, 0);
  if (f == NULL) return NULL;
  f->prev = Py_NewRef(prev);
  f->after = Py_NewRef(after);
  f->vectorcall = factory_vectorcall;
  return (PyObject *)f;
}

static int factory_traverse(PyObject *self, visitproc visit, void *arg) {
  Py_VISIT(((Factory *)self)->prev);
  Py_VISIT(((Factory *)self)->after);
  return 0;
}

static int factory_clear(PyObject *self) {
  Py_CLEAR(((Factory *)self)->prev);
  Py_CLEAR(((Factory *)self)->after);
  return 0;
}

static void factory_dealloc(PyObject *self) {
  PyObject_GC_UnTrack(self);
  factory_clear(self);
  Py_TYPE(self)->tp_free(self);
}

static PyObject *factory_get_after(PyObject *self, void *unused) {
  (void)unused;
  return Py_NewRef(((Factory *)self)->after ? ((Factory *)self)->after : Py_None);
}

static int factory_set_after(PyObject *self, PyObject *v, void *unused) {
  (void)unused;
  if (v == NULL) v = Py_None;
  if (v != Py_None && !PyCallable_Check(v)) {
    PyErr_SetString(PyExc_TypeError, "after must be callable or None");
    return -1;
  }
  Py_INCREF(v);
  Py_XSETREF(((Factory *)self)->after, v);
  return 0;
}

static PyObject *factory_get_prev(PyObject *self, void *unused) {
  (void)unused;
  return Py_NewRef(((Factory *)self)->prev ? ((Factory *)self)->prev : Py_None);
}

static PyGetSetDef factory_getset[] = {
    {"after", factory_get_after, factory_set_after, "called with each record (or None)", NULL},
    {"previous", factory_get_prev, NULL, "the wrapped factory", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject FactoryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "otelbridge._speedups.RecordFactory",
    .tp_basicsize = sizeof(Factory),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "RecordFactory(previous, after=None): a LogRecord factory with exact ns times",
    .tp_new = factory_new,
    .tp_dealloc = factory_dealloc,
    .tp_traverse = factory_traverse,
    .tp_clear = factory_clear,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(Factory, vectorcall),
    .tp_getset = factory_getset,
};

static PyObject *emit_depth(PyObject *self, PyObject *unused) {
  (void)self;
  (void)unused;
  return PyLong_FromLong(t_depth);
}

/* ---- emit (loguru, structlog, emit_record) ------------------------------------------------- */

static PyObject *emit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  conv_t c;
  otel_scope *scope;
  unsigned long long t;
  int32_t sev;
  int r;
  otel_str sevtext = {NULL, 0}, ev = {NULL, 0};
  otel_value bodyv;
  otel_span_context ctx;
  unsigned long long observed = 0;
  int mode = MODE_LOGS;
  int32_t st;
  (void)self;
  if (nargs != 8 && nargs != 10) {
    PyErr_SetString(PyExc_TypeError,
                    "emit(scope, time_ns, severity, severity_text, body, attrs, event_name, ctx"
                    "[, observed_ns, mode])");
    return NULL;
  }
  scope = addr_of(args[0]);
  if (scope == NULL) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "scope must be a non-zero address");
    return NULL;
  }
  t = PyLong_AsUnsignedLongLong(args[1]);
  if (t == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  if ((r = i32_arg(args[2], &sev)) != 0) return r < 0 ? NULL : PyLong_FromLong(OTEL_E_INVALID_ARG);
  if (nargs == 10) {
    observed = PyLong_AsUnsignedLongLong(args[8]);
    if (observed == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
    if (conv_mode(args[9], &mode) < 0) return NULL;
  }
  conv_init_mode(&c, mode);
  if (args[3] != Py_None && str_of(&c, args[3], &sevtext) < 0) goto fail;
  memset(&bodyv, 0, sizeof bodyv);
  if (args[4] != Py_None && set_value(&c, &bodyv, args[4]) < 0) goto fail;
  if (add_attrs(&c, args[5]) < 0) goto fail;
  if (PyBytes_Check(args[6])) {
    ev.ptr = PyBytes_AS_STRING(args[6]);
    ev.len = (size_t)PyBytes_GET_SIZE(args[6]);
  } else if (args[6] != Py_None && str_of(&c, args[6], &ev) < 0) {
    goto fail;
  }
  if (ctx_arg(args[7], &ctx) < 0) goto fail;
  st = otel_log_emit(scope, t, observed, sev, sevtext, args[4] == Py_None ? NULL : &bodyv, c.attrs,
                     (size_t)c.n, ev, &ctx);
  conv_free(&c);
  return PyLong_FromLong(st);
fail:
  conv_free(&c);
  return NULL;
}

/* ---- spans --------------------------------------------------------------------------------- */

/* span_start(scope, name, kind, start_ns, parent_kind, parent_span, parent_ctx, trace_state,
 * attrs) -> (handle, 32 bytes of span context) on success, else the status (int). */
static PyObject *span_start(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  conv_t c;
  otel_scope *scope;
  otel_str name;
  otel_span_parent par;
  otel_span h = 0;
  otel_span_context sc;
  unsigned long long t;
  int32_t kind, pk, st;
  int r;
  PyObject *res;
  (void)self;
  if (nargs != 9) {
    PyErr_SetString(PyExc_TypeError,
                    "span_start(scope, name, kind, start_ns, parent_kind, parent_span, "
                    "parent_ctx, trace_state, attrs)");
    return NULL;
  }
  scope = addr_of(args[0]);
  if (scope == NULL) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "scope must be a non-zero address");
    return NULL;
  }
  if ((r = i32_arg(args[2], &kind)) != 0) return r < 0 ? NULL : PyLong_FromLong(OTEL_E_INVALID_ARG);
  t = PyLong_AsUnsignedLongLong(args[3]);
  if (t == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  if ((r = i32_arg(args[4], &pk)) != 0) return r < 0 ? NULL : PyLong_FromLong(OTEL_E_INVALID_ARG);
  memset(&par, 0, sizeof par);
  par.kind = pk;
  if (pk == OTEL_PARENT_SPAN) {
    par.span = PyLong_AsUnsignedLongLong(args[5]);
    if (par.span == (otel_span)-1 && PyErr_Occurred()) return NULL;
  }
  conv_init(&c, 1);
  if (pk == OTEL_PARENT_REMOTE) {
    if (ctx_arg(args[6], &par.ctx) < 0) goto fail;
    if (args[7] != Py_None && str_of(&c, args[7], &par.trace_state) < 0) goto fail;
  }
  if (str_of(&c, args[1], &name) < 0) goto fail;
  if (add_attrs(&c, args[8]) < 0) goto fail;
  /* GIL held: the library only takes a slot and copies (see the top). */
  st = otel_span_start(scope, name, kind, t, &par, c.attrs, (size_t)c.n, NULL, 0, &h);
  conv_free(&c);
  if (st != 0) return PyLong_FromLong(st);
  memset(&sc, 0, sizeof sc);
  (void)otel_span_context_get(h, &sc);
  res = Py_BuildValue("(Ky#)", (unsigned long long)h, (const char *)&sc, (Py_ssize_t)sizeof sc);
  return res;
fail:
  conv_free(&c);
  return NULL;
}

static PyObject *span_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  unsigned long long h, t;
  (void)self;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "span_end(handle, end_ns)");
    return NULL;
  }
  h = PyLong_AsUnsignedLongLong(args[0]);
  if (h == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  t = PyLong_AsUnsignedLongLong(args[1]);
  if (t == (unsigned long long)-1 && PyErr_Occurred()) return NULL;
  return PyLong_FromLong(otel_span_end(h, t));
}

/* ---- metrics ------------------------------------------------------------------------------- */

/* The measurement as the instrument's number type; 0 when it converts as it is, 1 when the
 * Python fallback must decide (a float on an int instrument, a huge int, not a number), -1 on
 * an error that is not an Exception. */
static int metric_number(PyObject *v, int is_int, int64_t *i, double *d) {
  if (is_int) {
    int overflow = 0;
    long long x;
    if (!PyLong_Check(v)) return 1;
    x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (x == -1 && PyErr_Occurred()) return -1;
    if (overflow) return 1;
    *i = (int64_t)x;
    return 0;
  }
  if (PyFloat_CheckExact(v)) {
    *d = PyFloat_AS_DOUBLE(v);
    return 0;
  }
  if (PyLong_Check(v)) {
    *d = PyLong_AsDouble(v);
    if (*d == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      return 1;
    }
    return 0;
  }
  return 1;
}

/* One measurement, with the GIL held (the library call never blocks):
 *   metric_record(instrument, is_int, fallback, amount, attributes=None, context=None)
 *   bound_record(bound, is_int, fallback, amount)
 * The first three are bound once (functools.partial): the rest is the instrument's add/record/set
 * signature. What does not convert here (see metric_number; attributes that are not a mapping or
 * pairs) goes to fallback(amount, attributes), which never raises. Returns None. */
static PyObject *measure(int bound, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *amount, *attributes = Py_None;
  void *target;
  int is_int, r;
  int64_t i = 0;
  double d = 0;
  conv_t c;
  Py_ssize_t k, nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  if (nargs < 4 || nargs > (bound ? 4 : 6)) goto usage;
  for (k = 0; k < nkw; k++) { /* attributes=..., context=... (ignored: no exemplars) */
    PyObject *name = PyTuple_GET_ITEM(kwnames, k);
    if (!bound && PyUnicode_CompareWithASCIIString(name, "attributes") == 0 && nargs < 5)
      attributes = args[nargs + k];
    else if (bound || PyUnicode_CompareWithASCIIString(name, "context") != 0 || nargs == 6)
      goto usage;
  }
  if (!bound && nargs >= 5) attributes = args[4];
  target = addr_of(args[0]);
  if (target == NULL) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "instrument must be an address");
    return NULL;
  }
  is_int = PyObject_IsTrue(args[1]);
  if (is_int < 0) return NULL;
  amount = args[3];
  r = metric_number(amount, is_int, &i, &d);
  if (r < 0) return NULL;
  if (r > 0) return PyObject_CallFunctionObjArgs(args[2], amount, attributes, NULL);
  if (bound) {
    if (is_int)
      otel_bound_record_i64((otel_bound *)target, i);
    else
      otel_bound_record_f64((otel_bound *)target, d);
    Py_RETURN_NONE;
  }
  conv_init_mode(&c, MODE_LOGS);
  if (add_attrs(&c, attributes) < 0) {
    conv_free(&c);
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return NULL;
    PyErr_Clear();
    return PyObject_CallFunctionObjArgs(args[2], amount, attributes, NULL);
  }
  if (is_int)
    otel_metric_record_i64((otel_instrument *)target, i, c.attrs, (size_t)c.n);
  else
    otel_metric_record_f64((otel_instrument *)target, d, c.attrs, (size_t)c.n);
  conv_free(&c);
  Py_RETURN_NONE;
usage:
  PyErr_SetString(PyExc_TypeError,
                  bound ? "bound_record(bound, is_int, fallback, amount)"
                        : "metric_record(instrument, is_int, fallback, amount, attributes=None, "
                          "context=None)");
  return NULL;
}

static PyObject *metric_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                               PyObject *kwnames) {
  (void)self;
  return measure(0, args, nargs, kwnames);
}

static PyObject *bound_record(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames) {
  (void)self;
  return measure(1, args, nargs, kwnames);
}

/* ---- attrs() and attrs_debug(): the conversion as an object, read back (tests)
 * ---------------------------------------- */

static PyObject *value_py(const otel_value *v, int depth);

static PyObject *value_py(const otel_value *v, int depth) {
  switch (v->type) {
    case OTEL_VALUE_STRING:
      return Py_BuildValue("(iy#)", v->type, v->u.str.ptr, (Py_ssize_t)v->u.str.len);
    case OTEL_VALUE_BYTES:
      return Py_BuildValue("(iy#)", v->type, v->u.bytes.ptr, (Py_ssize_t)v->u.bytes.len);
    case OTEL_VALUE_BOOL:
      return Py_BuildValue("(iO)", v->type, v->u.boolean ? Py_True : Py_False);
    case OTEL_VALUE_INT:
      return Py_BuildValue("(iL)", v->type, (long long)v->u.i64);
    case OTEL_VALUE_DOUBLE:
      return Py_BuildValue("(id)", v->type, v->u.f64);
    case OTEL_VALUE_ARRAY: {
      size_t i;
      PyObject *l = PyList_New((Py_ssize_t)v->u.array.len), *r;
      if (l == NULL) return NULL;
      for (i = 0; i < v->u.array.len; i++) {
        PyObject *x = value_py(&v->u.array.items[i], depth + 1);
        if (x == NULL) {
          Py_DECREF(l);
          return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
      }
      r = Py_BuildValue("(iN)", v->type, l);
      return r;
    }
    case OTEL_VALUE_MAP: {
      size_t i;
      PyObject *l = PyList_New((Py_ssize_t)v->u.map.len);
      if (l == NULL) return NULL;
      for (i = 0; i < v->u.map.len; i++) {
        const otel_attr *a = &v->u.map.items[i];
        PyObject *x = value_py(&a->value, depth + 1), *p;
        if (x == NULL) {
          Py_DECREF(l);
          return NULL;
        }
        p = Py_BuildValue("(y#N)", a->key.ptr, (Py_ssize_t)a->key.len, x);
        if (p == NULL) {
          Py_DECREF(l);
          return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, p);
      }
      return Py_BuildValue("(iN)", v->type, l);
    }
    default:
      return Py_BuildValue("(iO)", v->type, Py_None);
  }
}

/* ---- AttrArray: a converted otel_attr array for the cffi callers --------------------------- */

/* Owns what the conversion made (the attribute array, array/map items, the Python objects it
 * points into): valid as long as the object lives. Immutable. */
typedef struct {
  PyObject_HEAD otel_attr *attrs;
  Py_ssize_t n;
  PyObject **refs;
  Py_ssize_t nrefs;
  void **mem;
  Py_ssize_t nmem;
} AttrArray;

static PyObject *AttrArrayType; /* a heap type, made by PyInit__speedups */

static void attrarray_dealloc(AttrArray *self) {
  Py_ssize_t i;
  PyTypeObject *tp = Py_TYPE(self);
  for (i = 0; i < self->nrefs; i++) Py_DECREF(self->refs[i]);
  for (i = 0; i < self->nmem; i++) PyMem_Free(self->mem[i]);
  PyMem_Free(self->mem);
  PyMem_Free(self->refs);
  PyMem_Free(self->attrs);
  PyObject_Free(self);
  Py_DECREF(tp);
}

static Py_ssize_t attrarray_len(AttrArray *self) {
  return self->n;
}

static PyObject *attrarray_address(AttrArray *self, void *closure) {
  (void)closure;
  return PyLong_FromVoidPtr(self->attrs);
}

static PyGetSetDef attrarray_getset[] = {{"address", (getter)attrarray_address, NULL,
                                          "the otel_attr array's address (0 when empty)", NULL},
                                         {NULL, NULL, NULL, NULL, NULL}};

static PyType_Slot attrarray_slots[] = {
    {Py_tp_dealloc, (void *)attrarray_dealloc},
    {Py_sq_length, (void *)attrarray_len},
    {Py_tp_getset, attrarray_getset},
    {Py_tp_doc, (void *)"A converted otel_attr array (otelbridge._speedups.attrs)"},
    {0, NULL}};

static PyType_Spec attrarray_spec = {"otelbridge._speedups.AttrArray", sizeof(AttrArray), 0,
                                     Py_TPFLAGS_DEFAULT, attrarray_slots};

/* attrs(attrs, mode) -> AttrArray: the conversion moved into an object that owns it. */
static PyObject *attrs_new(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  conv_t c;
  AttrArray *a;
  int mode;
  (void)self;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "attrs(attrs, mode)");
    return NULL;
  }
  if (conv_mode(args[1], &mode) < 0) return NULL;
  conv_init_mode(&c, mode);
  if (add_attrs(&c, args[0]) < 0) goto fail;
  a = PyObject_New(AttrArray, (PyTypeObject *)AttrArrayType);
  if (a == NULL) goto fail;
  a->attrs = NULL;
  a->refs = NULL;
  a->mem = NULL;
  a->n = a->nrefs = a->nmem = 0;
  if (c.n) {
    a->attrs = PyMem_Malloc((size_t)c.n * sizeof(otel_attr));
    if (a->attrs == NULL) goto nomem;
    memcpy(a->attrs, c.attrs, (size_t)c.n * sizeof(otel_attr));
    a->n = c.n;
  }
  if (c.nrefs) {
    a->refs = PyMem_Malloc((size_t)c.nrefs * sizeof(PyObject *));
    if (a->refs == NULL) goto nomem;
    memcpy(a->refs, c.refs, (size_t)c.nrefs * sizeof(PyObject *));
    a->nrefs = c.nrefs;
    c.nrefs = 0; /* moved */
  }
  a->mem = c.mem; /* moved: array and map items */
  a->nmem = c.nmem;
  c.mem = NULL;
  c.nmem = c.capmem = 0;
  conv_free(&c);
  return (PyObject *)a;
nomem:
  Py_DECREF(a);
  PyErr_NoMemory();
fail:
  conv_free(&c);
  return NULL;
}

static PyObject *attrs_debug(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
  AttrArray *a = (AttrArray *)attrs_new(self, args, nargs);
  PyObject *out;
  Py_ssize_t i;
  if (a == NULL) return NULL;
  out = PyList_New(a->n);
  if (out == NULL) goto fail;
  for (i = 0; i < a->n; i++) {
    PyObject *v = value_py(&a->attrs[i].value, 0), *p;
    if (v == NULL) goto fail;
    p = Py_BuildValue("(y#N)", a->attrs[i].key.ptr, (Py_ssize_t)a->attrs[i].key.len, v);
    if (p == NULL) goto fail;
    PyList_SET_ITEM(out, i, p);
  }
  Py_DECREF(a);
  return out;
fail:
  Py_XDECREF(out);
  Py_DECREF(a);
  return NULL;
}

/* ---- setup --------------------------------------------------------------------------------- */

static PyObject *setup(PyObject *self, PyObject *args) {
  PyObject *reserved, *event_key, *record_type, *scope_fn, *ctx_fn, *exc_fn, *current;
  (void)self;
  if (!PyArg_ParseTuple(args, "O!UOOOOO:setup", &PyFrozenSet_Type, &reserved, &event_key,
                        &record_type, &scope_fn, &ctx_fn, &exc_fn, &current))
    return NULL;
  if (!PyType_Check(record_type) || !PyContextVar_CheckExact(current)) {
    PyErr_SetString(PyExc_TypeError, "setup: record_type must be a type, current a ContextVar");
    return NULL;
  }
#define SET(g, v)     \
  do {                \
    Py_INCREF(v);     \
    Py_XSETREF(g, v); \
  } while (0)
  SET(g_reserved, reserved);
  SET(g_event_key, event_key);
  SET(g_record_type, record_type);
  SET(g_scope_fn, scope_fn);
  SET(g_ctx_fn, ctx_fn);
  SET(g_exc_fn, exc_fn);
  SET(g_current, current);
#undef SET
  Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"setup", setup, METH_VARARGS,
     "setup(reserved, event_key, LogRecord, scope_fn, ctx_fn, exc_fn, current_var)"},
    {"handler_emit", (PyCFunction)(void (*)(void))handler_emit, METH_FASTCALL,
     "handler_emit(handler, record): otelbridge.logging.Handler's emit, one library call"},
    {"handler_handle", (PyCFunction)(void (*)(void))handler_handle, METH_FASTCALL,
     "handler_handle(handler, flags, record): otelbridge.logging.Handler.handle, one call"},
    {"emit_depth", emit_depth, METH_NOARGS,
     "How many handler_emit calls this thread is inside (0 outside the handler)."},
    {"emit", (PyCFunction)(void (*)(void))emit, METH_FASTCALL,
     "emit(scope, time_ns, severity, severity_text, body, attrs, event_name, ctx) -> status"},
    {"span_start", (PyCFunction)(void (*)(void))span_start, METH_FASTCALL,
     "span_start(scope, name, kind, start_ns, parent_kind, parent_span, parent_ctx, "
     "trace_state, attrs) -> (handle, ctx bytes) | status"},
    {"span_end", (PyCFunction)(void (*)(void))span_end, METH_FASTCALL,
     "span_end(handle, end_ns) -> status"},
    {"metric_record", (PyCFunction)(void (*)(void))metric_record, METH_FASTCALL | METH_KEYWORDS,
     "metric_record(instrument, is_int, fallback, amount, attributes=None, context=None)"},
    {"bound_record", (PyCFunction)(void (*)(void))bound_record, METH_FASTCALL | METH_KEYWORDS,
     "bound_record(bound, is_int, fallback, amount)"},
    {"attrs", (PyCFunction)(void (*)(void))attrs_new, METH_FASTCALL,
     "attrs(attrs, mode) -> AttrArray (.address, len()): the converted otel_attr array; mode 0 "
     "logs, 1 spans, 2 OTLP AnyValues"},
    {"attrs_debug", (PyCFunction)(void (*)(void))attrs_debug, METH_FASTCALL,
     "attrs_debug(attrs, mode) -> [(key bytes, (type, value))]: the conversion"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT,
                                    "otelbridge._speedups",
                                    "The binding's hot paths in C (see _speedups.c).",
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__speedups(void) {
#define INTERN(var, s) \
  if ((var = PyUnicode_InternFromString(s)) == NULL) return NULL
  INTERN(s_dict, "__dict__");
  INTERN(s_name, "name");
  INTERN(s_msg, "msg");
  INTERN(s_args, "args");
  INTERN(s_levelno, "levelno");
  INTERN(s_levelname, "levelname");
  INTERN(s_created, "created");
  INTERN(s_ns, "_otelbridge_ns");
  INTERN(s_exc_info, "exc_info");
  INTERN(s_formatter, "formatter");
  INTERN(s_format, "format");
  INTERN(s_getMessage, "getMessage");
  INTERN(s_code_attributes, "code_attributes");
  INTERN(s_pathname, "pathname");
  INTERN(s_funcName, "funcName");
  INTERN(s_lineno, "lineno");
  INTERN(s_api_mod, "opentelemetry.trace");
  INTERN(s_cb, "_cb");
  INTERN(s_filters, "filters");
  INTERN(s_filter, "filter");
  INTERN(s_emit, "emit");
  INTERN(s_handleError, "handleError");
  INTERN(s_msecs, "msecs");
#undef INTERN
  if ((g_scopes = PyDict_New()) == NULL) return NULL;
  if ((g_level_texts = PyDict_New()) == NULL) return NULL;
  if ((AttrArrayType = PyType_FromSpec(&attrarray_spec)) == NULL) return NULL;
  if (PyType_Ready(&FactoryType) < 0) return NULL;
  {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&FactoryType);
    if (PyModule_AddObject(m, "RecordFactory", (PyObject *)&FactoryType) < 0) {
      Py_DECREF(&FactoryType);
      Py_DECREF(m);
      return NULL;
    }
    return m;
  }
}
