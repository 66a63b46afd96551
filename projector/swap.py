"""Swapping read-model schemas by renaming them, without breaking what other schemas
built on them (:mod:`projector.replay`).

PostgreSQL binds a view to the tables' OIDs, not their names: after ``ALTER SCHEMA
wavestream RENAME TO wavestream_previous`` a view ``reports.done`` over
``wavestream.postings`` still reads the *old* table (now
``wavestream_previous.postings``), and the next replay's ``DROP SCHEMA
wavestream_previous CASCADE`` would drop the view. So, in the swap transaction:

- :func:`outside_dependents` finds the views in other schemas over the relations of
  the schema being swapped out, with their definitions (names fully qualified);
  after the renames :func:`recreate_views` runs ``CREATE OR REPLACE VIEW`` with them, which
  binds each view to the tables now carrying those names and keeps its OID, owner and
  grants. Dependents that cannot be carried over that way (materialized views,
  foreign keys from other schemas) make the swap refuse with a list of them, before
  anything changed.
- :func:`copy_grants` grants on the incoming schema and its tables what the outgoing
  ones had (grants an operator added after the migrations, e.g. to a reporting role).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from psycopg2 import sql

from projector.exceptions import ReplayError

_VIEW_DEPENDENTS = """
SELECT DISTINCT v.oid, vn.nspname, v.relname, v.relkind
  FROM pg_depend d
  JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid
  JOIN pg_class v ON v.oid = r.ev_class
  JOIN pg_namespace vn ON vn.oid = v.relnamespace
  JOIN pg_class t ON d.refclassid = 'pg_class'::regclass AND t.oid = d.refobjid
  JOIN pg_namespace tn ON tn.oid = t.relnamespace
 WHERE tn.nspname = %s AND NOT vn.nspname = ANY(%s) AND v.oid <> t.oid
 ORDER BY v.oid
"""
_FOREIGN_KEYS = """
SELECT cn.nspname || '.' || ct.relname || ' constraint ' || c.conname
  FROM pg_constraint c
  JOIN pg_class ct ON ct.oid = c.conrelid JOIN pg_namespace cn ON cn.oid = ct.relnamespace
  JOIN pg_class rt ON rt.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = rt.relnamespace
 WHERE c.contype = 'f' AND rn.nspname = %s AND NOT cn.nspname = ANY(%s)
"""


@dataclass
class Dependents:
    """What other schemas hang on one read-model schema."""

    views: list[tuple[str, str, str, list[str]]] = field(default_factory=list)  # schema, name, sql, options
    blockers: list[str] = field(default_factory=list)

    def refuse_if_blocked(self, schema: str) -> None:
        """Raises: ReplayError listing the dependents a swap cannot carry over."""
        if self.blockers:
            raise ReplayError(f"objects in other schemas depend on {schema} and cannot follow a swap: "
                              f"{'; '.join(self.blockers)}. Drop them (and create them again after the"
                              " replay) or make them plain views; nothing was changed")


def outside_dependents(cur: Any, schema: str, internal: Iterable[str]) -> Dependents:
    """The dependents of ``schema``'s relations outside ``schema`` and ``internal``.

    Sets ``search_path`` to ``pg_catalog`` for the rest of the transaction, so the view
    definitions name every relation with its schema.
    """
    others = sorted({schema, *internal})
    cur.execute("SET LOCAL search_path = pg_catalog")
    cur.execute(_VIEW_DEPENDENTS, (schema, others))
    found = Dependents()
    for oid, view_schema, name, kind in cur.fetchall():
        if kind != "v":
            found.blockers.append(f"materialized view {view_schema}.{name}")
            continue
        cur.execute("SELECT pg_get_viewdef(%s::oid), coalesce(reloptions, '{}') FROM pg_class WHERE oid = %s",
                    (oid, oid))
        definition, options = cur.fetchone()
        found.views.append((view_schema, name, definition, list(options)))
    cur.execute(_FOREIGN_KEYS, (schema, others))
    found.blockers.extend(f"foreign key {r[0]}" for r in cur.fetchall())
    return found


def recreate_views(cur: Any, dependents: Dependents) -> None:
    """``CREATE OR REPLACE VIEW`` each dependent view from its captured definition
    (call after the renames, in the same transaction as :func:`outside_dependents`)."""
    for view_schema, name, definition, options in dependents.views:
        with_options = sql.SQL(" WITH ({})").format(sql.SQL(", ").join(sql.SQL(o) for o in options)) \
            if options else sql.SQL("")
        cur.execute(sql.SQL("CREATE OR REPLACE VIEW {}{} AS ").format(sql.Identifier(view_schema, name),
                                                                      with_options)
                    + sql.SQL(definition.rstrip().rstrip(";")))


def copy_grants(cur: Any, source: str, target: str) -> int:
    """Grant on schema ``target`` and its relations what ``source`` and its relations of
    the same names grant to others than their owners; returns how many grants."""
    cur.execute("SELECT a.privilege_type, a.grantee, a.is_grantable FROM pg_namespace n, aclexplode(n.nspacl) a"
                " WHERE n.nspname = %s AND a.grantee <> n.nspowner", (source,))
    statements = [(sql.SQL("SCHEMA {}").format(sql.Identifier(target)), *row) for row in cur.fetchall()]
    cur.execute("SELECT c.relname, a.privilege_type, a.grantee, a.is_grantable"
                " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a"
                " WHERE n.nspname = %s AND a.grantee <> c.relowner AND c.relkind IN ('r', 'v', 'm', 'p')"
                " AND EXISTS (SELECT 1 FROM pg_class t JOIN pg_namespace tn ON tn.oid = t.relnamespace"
                " WHERE tn.nspname = %s AND t.relname = c.relname)", (source, target))
    statements += [(sql.SQL("TABLE {}").format(sql.Identifier(target, rel)), priv, grantee, grantable)
                   for rel, priv, grantee, grantable in cur.fetchall()]
    for on, privilege, grantee, grantable in statements:
        cur.execute("SELECT CASE WHEN %s = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(%s)) END",
                    (grantee, grantee))
        role = cur.fetchone()[0]
        cur.execute(sql.SQL("GRANT {} ON {} TO {}{}").format(
            sql.SQL(privilege), on, sql.SQL(role), sql.SQL(" WITH GRANT OPTION" if grantable else "")))
    return len(statements)


def rename(cur: Any, old: str, new: str) -> None:
    cur.execute(sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(sql.Identifier(old), sql.Identifier(new)))
