"""The sign-off desk: ``campaign serve``, a small web application over the store.

People who review, approve, pause and measure a campaign do it here in a browser, as themselves (users of the
store with roles, :mod:`campaign.people`), with the same rules as on the command line: the store checks every
change against the person's role and scope, and audits it under their login.

- :mod:`campaign.web.app`: the application factory (:func:`~campaign.web.app.create_app`) and the desk's
  shared parts (store, templates, settings), security headers, and one-sentence errors;
- :mod:`campaign.web.settings`: what the desk reads from the environment, and its session secret;
- :mod:`campaign.web.sessions`: signed cookie sessions, CSRF tokens and who is signed in;
- :mod:`campaign.web.auth`: logging in and out;
- :mod:`campaign.web.views`: what the pages show (cards, the week, warnings from the plan);
- :mod:`campaign.web.pages` and :mod:`campaign.web.actions`: the pages, and the forms that change the store.

Every page is rendered on the server; no page needs JavaScript, and every action is a plain form.
"""
