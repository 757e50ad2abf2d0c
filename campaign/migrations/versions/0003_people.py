"""people: users with roles and scopes, and desk login attempts (for rate limiting)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'login_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('succeeded', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_login_attempt_login_at', 'login_attempt', ['login', 'at'], unique=False)
    op.create_index('ix_login_attempt_source_at', 'login_attempt', ['source', 'at'], unique=False)
    op.create_table(
        'person',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('login', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('email', sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column('roles', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('campaigns', sa.Text(), nullable=True),
        sa.Column('accounts', sa.Text(), nullable=True),
        sa.Column('service', sa.Boolean(), nullable=False),
        sa.Column('password_hash', sa.Text(), nullable=True),
        sa.Column('oidc_subject', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column('session_version', sa.Integer(), nullable=False),
        sa.Column('disabled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('login'),
        sa.UniqueConstraint('oidc_subject'),
    )


def downgrade() -> None:
    op.drop_table('person')
    op.drop_index('ix_login_attempt_source_at', table_name='login_attempt')
    op.drop_index('ix_login_attempt_login_at', table_name='login_attempt')
    op.drop_table('login_attempt')
