"""publishing outcomes: language, the plan's time, first send, backoff and alerts kept on each post

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=35), nullable=False,
                                      server_default='en-GB'))
        batch_op.add_column(sa.Column('planned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('not_before', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('lookups', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('alerted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Until now a post's due time was always the plan's.
    op.execute("UPDATE post SET planned_at = due_at")
    # Posts sent before this revision: their first request went out when their oldest attempt began.
    op.execute("UPDATE post SET first_sent_at = (SELECT MIN(started_at) FROM publish_attempt "
               "WHERE publish_attempt.post_id = post.id)")
    with op.batch_alter_table('post', schema=None) as batch_op:
        batch_op.alter_column('planned_at', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
        batch_op.alter_column('language', server_default=None)
        batch_op.alter_column('lookups', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('post', schema=None) as batch_op:
        for column in ('alerted_at', 'lookups', 'not_before', 'first_sent_at', 'planned_at', 'language'):
            batch_op.drop_column(column)
