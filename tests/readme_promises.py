"""What the README promises, claim by claim, and the tests that show each (paths relative to `tests/`).

`tests/test_readme_promises.py` keeps this in step with the README: a promise added there without an entry here,
an entry whose promise is gone, or a test named here that does not exist, fails the run.
"""

from __future__ import annotations

NOT_BEHAVIOUR: dict[str, str] = {
    "Performance": "figures measured by `python -m bench.run`, as ratios in one run, never by timed assertions",
    "Development": "how the repository and its tests are laid out",
    "Architecture": "the code's shape, not the gateway's behaviour; tests/test_layers.py holds it",
    "Status": "what is done; each behaviour it names is listed under its own section",
}
"""README sections that promise no behaviour of the gateway, with the reason."""

Claims = dict[str, tuple[str, ...]]

PROMISES: dict[str, Claims] = {
    "Quick start": {
        "`glm-mcp serve` with no config runs the bundled servers; clients send the token `glm-mcp token` prints": (
            "test_cli.py::test_serve_without_a_config_runs_the_bundled_servers_for_a_client_with_the_printed_token",
        ),
        "the built-in default never serves the home folder": (
            "test_install.py::test_the_built_in_default_never_serves_the_home_folder",
        ),
        "the status-page tests drive chromium (skipped, saying so, without it)": (
            "test_status_page.py::test_the_status_page_shows_the_gateway_live_and_drives_it",
        ),
        "the SDK internals `mcp` 2.3 is held to are checked": (
            "upstream/test_sdk_seams.py::test_a_request_session_still_exposes_the_editor_connection_the_facade_keys_on",
            "upstream/test_sdk_seams.py::test_the_in_process_transport_is_still_where_the_gateway_imports_it_from",
            "upstream/test_sdk_seams.py::test_the_sdk_still_reads_stdio_through_the_stream_class_the_gateway_replaces",
            "upstream/test_sdk_seams.py::test_a_forgotten_http_session_is_still_recognised_from_the_sdk_error",
            "upstream/test_sdk_seams.py::test_the_transport_still_holds_its_session_by_the_count_the_fast_lane_keeps",
            "upstream/test_sdk_seams.py::test_the_session_manager_still_names_a_new_sessions_id_by_keyword_where_a_revival_sets_it",
        ),
    },
    "Plugging in an editor": {
        "install adds an entry naming the config in use, keeps the rest and a `.bak` copy": (
            "test_install.py::test_install_adds_an_entry_naming_a_config_and_this_installation_and_keeps_the_rest",
            "test_install.py::test_install_names_the_config_in_use_and_files_root_is_honoured",
            "test_install.py::test_jsonc_settings_keep_their_comments_trailing_commas_and_formatting",
        ),
        "--dry-run writes nothing": ("test_install.py::test_dry_run_writes_nothing_and_hides_secrets",),
        "a file that is not plain JSON is left alone, the entry printed": (
            "test_install.py::test_a_file_that_is_not_json_is_left_alone_with_the_entry_to_add_by_hand",
        ),
        "--http writes the URL and token into a file only its owner reads; Claude Desktop takes stdio only": (
            "test_security.py::test_install_http_writes_the_token_into_an_entry_only_its_owner_can_read",
        ),
        "an HTTP entry written by hand carries the token; a 401 says which": (
            "test_isolation.py::test_a_401_says_which_token_to_send",
        ),
    },
    "Using it from an Anthropic client": {
        "the anthropic SDK gets GLM with the gateway's tools, streaming and not, client tools, errors, counts": (
            "test_anthropic_face.py::test_a_message_is_answered_by_glm_using_a_gateway_tool",
            "test_anthropic_face.py::test_the_stream_helper_reads_text_as_it_comes_and_the_final_message",
            "test_anthropic_face.py::test_a_client_tool_comes_back_as_tool_use_and_its_result_goes_on",
            "test_anthropic_face.py::test_a_streamed_client_tool_use_arrives_whole_through_the_stream_helper",
            "test_anthropic_face.py::test_a_tool_choice_glm_cannot_force_is_asked_for_in_the_system_prompt",
            "test_anthropic_face.py::test_a_glm_failure_is_an_error_in_anthropics_shape",
            "test_anthropic_face.py::test_errors_come_in_anthropics_shape_with_their_status",
            "test_anthropic_face.py::test_count_tokens_is_an_estimate_and_models_come_in_anthropics_shape",
            "test_anthropic_face.py::test_claude_code_in_print_mode_answers_with_a_gateway_tool",
            "test_anthropic_face.py::test_requests_are_counted_and_shown_by_the_face_they_came_in_on",
            "test_anthropic_face.py::test_a_servers_question_pauses_the_run_as_a_glm_elicit_tool_use_and_the_answer_resumes_it",
        ),
    },
    "Using it from an OpenAI Responses client": {
        "responses.create and .stream, client functions, previous_response_id per token, the Agents SDK": (
            "test_responses_face.py::test_responses_create_and_stream_answer_with_a_gateway_tool",
            "test_responses_face.py::test_a_client_function_comes_back_as_a_function_call_and_previous_response_id_goes_on",
            "test_responses_face.py::test_stored_responses_are_bounded_by_what_they_hold_and_the_oldest_go_first",
            "test_responses_face.py::test_a_streamed_client_function_call_arrives_whole_in_its_events",
            "test_responses_face.py::test_a_response_sent_with_store_false_cannot_be_continued",
            "test_responses_face.py::test_a_servers_question_pauses_the_run_as_a_glm_elicit_function_call_and_its_output_resumes_it",
            "test_clients.py::test_an_openai_agents_sdk_agent_runs_on_the_gateway_with_its_mcp_as_its_server",
        ),
    },
    "Using it from an OpenAI client": {
        "the snippet runs as written after quick start 1": (
            "test_clients.py::test_the_readme_openai_snippet_runs_as_written_after_quick_start",
        ),
        "an OpenAI client with the gateway's base URL gets an answer that used MCP tools": (
            "test_chat_api.py::test_an_openai_client_gets_an_answer_that_used_two_servers_over_several_steps",
        ),
        "`extra_body` narrows the run": ("test_chat_api.py::test_per_request_narrowing_through_extra_body",),
        "the token comes from `glm-mcp token`": (
            "test_security.py::test_without_auth_tokens_serve_generates_a_private_token_and_requires_it",
        ),
        "`glm-mcp chat` does the same from the shell": (
            "test_agent_tool.py::test_chat_prints_each_tool_step_as_it_happens_and_the_answer",
        ),
    },
    "Command line: `glm-mcp serve [--config F] [--host H] [--port P]`": {
        "serves /mcp and says so on stderr once up (`--port 0` picks a port)": (
            "test_serve.py::test_an_mcp_client_lists_and_calls_tools_over_streamable_http",
        ),
        "`localhost` listens on both loopbacks": ("test_cli.py::test_host_localhost_listens_on_both_loopbacks",),
        "the log level is taken before or after the command, or from $GLM_MCP_LOG_LEVEL; info shows servers' stderr": (
            "test_cli.py::test_the_log_level_is_taken_before_or_after_the_command_or_from_the_environment",
            "test_cli.py::test_debug_logs_each_spawn_call_and_model_request",
        ),
        "exit code 2 for a config error, with a message and no traceback": (
            "test_config.py::test_cli_reports_a_config_error_with_exit_code_2_and_no_traceback",
            "test_cli.py::test_two_passthrough_servers_sharing_a_name_stop_serve_and_stdio_with_a_config_error",
        ),
        "without a model key it warns and the model routes answer 503": (
            "test_cli.py::test_serve_without_a_model_key_warns_and_answers_503_at_once",
        ),
    },
    "Command line: `glm-mcp stdio [--config F]`": {
        "the catalog over stdin/stdout, logs on stderr only, nothing left behind": (
            "test_processes.py::test_glm_mcp_stdio_spawned_by_an_editor_serves_every_server_and_leaves_nothing_behind",
        ),
        "initialize at once, the first list waits a little, later servers announced, quick exit": (
            "test_stdio_startup.py::test_stdio_answers_at_once_and_announces_a_server_that_is_ready_later",
            "test_stdio_startup.py::test_stdio_stops_as_soon_as_its_editor_closes_stdin",
            "test_stdio_startup.py::test_the_first_answer_is_the_sdks_own_answer_and_is_given_once",
            "test_stdio_startup.py::test_the_first_answer_knows_the_revisions_the_sdk_negotiates",
            "test_public_api.py::test_the_config_and_the_errors_come_without_the_mcp_sdk",
            "test_stdio_startup.py::test_serve_stops_as_soon_as_it_is_asked_when_no_call_runs",
        ),
    },
    "Command line: `glm-mcp tools [--config F] [--json]`": {
        "every tool and each server's state, filtered and quarantined tools; exit 1 while a server is down": (
            "test_cli.py::test_tools_shows_each_servers_state_and_filtered_tools_and_fails_while_one_is_down",
            "test_live.py::test_the_status_data_lists_every_tool_with_its_policy_quarantined_ones_included",
        ),
        "`--json` to a closed pipe ends quietly": ("test_cli.py::test_tools_output_to_a_closed_pipe_ends_quietly",),
        "a config without servers is said plainly": ("test_cli.py::test_a_config_without_servers_is_said_plainly",),
    },
    "Command line: `glm-mcp call NAME [JSON] [--json] [--out DIR] [--config F]`": {
        "pictures described, saved with --out, whole with --json": (
            "test_cli.py::test_call_shows_a_picture_saves_it_with_out_and_prints_it_whole_with_json",
        ),
        "prints the result; exit code 1 on a tool error": (
            "test_cli.py::test_call_prints_the_result_and_exits_1_on_a_tool_error",
        ),
        "starts only the server that owns the tool": (
            "test_cli.py::test_call_starts_only_the_server_that_owns_the_tool",
        ),
        "a call while its server restarts waits for it": (
            "test_cli.py::test_a_call_while_its_server_restarts_waits_for_it",
        ),
    },
    "Command line: `glm-mcp chat PROMPT [--config F] [--server S]… [--system TEXT]`": {
        "tool steps on stderr as they happen, the answer on stdout": (
            "test_agent_tool.py::test_chat_prints_each_tool_step_as_it_happens_and_the_answer",
        ),
        "the prompt from stdin, a system prompt": (
            "test_cli.py::test_chat_reads_the_prompt_from_stdin_and_takes_a_system_prompt",
        ),
        "an unknown --server is a usage error": ("test_cli.py::test_chat_with_an_unknown_server_is_a_usage_error",),
    },
    "Command line: `glm-mcp install CLIENT [--dry-run] [--config F] [--http [URL]] [--files-root DIR] [--env NAME[=VALUE]]… [--model [NAME]]`": {
        "claude-code --model points Claude Code's model at the gateway": (
            "test_install.py::test_install_claude_code_with_model_points_claude_codes_model_at_the_gateway",
        ),
        "adds glm-mcp to each editor's config, keeping what is there": (
            "test_install.py::test_install_adds_an_entry_naming_a_config_and_this_installation_and_keeps_the_rest",
            "test_install.py::test_env_carries_what_editors_do_not_pass_and_the_file_becomes_private",
            "test_install.py::test_install_names_the_config_in_use_and_files_root_is_honoured",
            "test_install.py::test_install_with_nothing_to_change_writes_nothing_and_no_backup",
        ),
        "--http points it at a running serve, with its token": (
            "test_security.py::test_install_http_writes_the_token_into_an_entry_only_its_owner_can_read",
        ),
    },
    "Command line: `glm-mcp token [--config F]`": {
        "prints the token, generated on first use": (
            "test_security.py::test_without_auth_tokens_serve_generates_a_private_token_and_requires_it",
            "test_cli.py::test_serve_without_a_config_runs_the_bundled_servers_for_a_client_with_the_printed_token",
        ),
    },
    "Command line: `glm-mcp restart NAME [--config F] [--url U]`": {
        "restarts one server of a running serve": (
            "test_live.py::test_one_server_at_a_time_over_the_admin_api_and_the_cli",
        ),
    },
    "Command line: `glm-mcp doctor [--config F] [--no-model]`": {
        "a table of what is wrong and how to fix it; exit 1 if anything failed": (
            "test_agent_tool.py::test_doctor_lists_what_is_wrong_and_how_to_fix_it",
            "test_catalog.py::test_doctor_says_how_to_hide_a_tool_glm_cannot_take_on_someone_elses_server",
            "test_cli.py::test_two_passthrough_servers_sharing_a_name_stop_serve_and_stdio_with_a_config_error",
        ),
    },
    "Command line: `glm-mcp login NAME [--person P] [--config F]`": {
        "one person's own login": ("test_oauth.py::test_login_for_one_person_of_a_shared_gateway",),
        "while a running gateway waits for the same login; it takes the saved one": (
            "test_oauth.py::test_glm_mcp_login_while_a_running_gateway_waits_for_the_same_login",
        ),
        "prints the URL, opens the browser, keeps the login; exit 0; `tools` then needs no person": (
            "test_oauth.py::test_login_and_logout_commands",
        ),
        "a server that is not remote, or unknown, is a usage error": (
            "test_oauth.py::test_login_of_an_unknown_or_local_server_is_a_usage_error",
        ),
    },
    "Command line: `glm-mcp logout NAME [--person P] [--config F]`": {
        "forgets the login: the server needs one again": ("test_oauth.py::test_login_and_logout_commands",),
    },
    "Configuration: Per remote (`url`) server": {
        "`oauth: false` and a bad `oauth` object": (
            "test_oauth.py::test_oauth_false_keeps_a_401_a_plain_failure_and_a_bad_oauth_object_fails_that_server_only",
            "test_oauth.py::test_oauth_keys_are_checked",
        ),
    },
    "Remote servers behind OAuth: Logins kept like secrets": {
        "a Client ID Metadata Document where the authorization server takes them": (
            "test_oauth.py::test_a_client_id_metadata_document_is_used_where_the_authorization_server_takes_them",
        ),
        "discovery, registration, PKCE, the resource indicator, from a URL alone": (
            "test_oauth.py::test_a_url_alone_logs_in_with_discovery_registration_pkce_and_the_resource",
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
        "encrypted, 0600 in 0700, reused after a restart": (
            "test_oauth.py::test_the_login_is_kept_encrypted_0600_and_reused_after_a_restart",
            "test_oauth.py::test_a_login_file_readable_by_others_is_refused",
        ),
        "or in the OS keyring": ("test_oauth.py::test_logins_can_live_in_the_os_keyring",),
        "tokens never in logs or status": (
            "test_oauth.py::test_a_url_alone_logs_in_with_discovery_registration_pkce_and_the_resource",
        ),
    },
    "Remote servers behind OAuth: Refresh": {
        "before expiry, after a restart": (
            "test_oauth.py::test_a_token_near_its_expiry_is_refreshed_without_a_person",
        ),
        "the refresh grant asked for only where offered": (
            "test_oauth.py::test_registration_asks_for_the_refresh_grant_only_where_the_server_offers_it",
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
        "on a 401, before a new login": (
            "test_oauth.py::test_a_revoked_access_token_is_refreshed_on_401_without_a_person",
        ),
    },
    "Remote servers behind OAuth: Bounded": {
        "step-up with the union of scopes; no login loop": (
            "test_oauth.py::test_step_up_asks_once_more_for_the_union_of_scopes",
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
        "a failed login parks the server": (
            "test_oauth.py::test_without_a_person_the_server_needs_login_and_says_how",
        ),
    },
    "Remote servers behind OAuth: Where the person is": {
        "glm__login with a URL elicitation": (
            "test_oauth.py::test_an_editor_logs_in_through_glm_login_with_a_url_elicitation",
        ),
        "a call that needs a new login shows it to the calling editor": (
            "test_oauth.py::test_a_call_that_needs_a_new_login_shows_it_to_the_callers_editor",
            "test_oauth.py::test_a_call_needing_a_new_login_from_an_editor_without_url_elicitation_fails_at_once",
        ),
        "the status page's login action; /readyz never shows the URL": (
            "test_oauth.py::test_the_status_page_login_action_gives_the_url_and_readyz_never_shows_it",
            "test_status_page.py::test_a_server_behind_oauth_is_logged_into_from_the_status_page",
        ),
        "tools and doctor show needs login and the command": (
            "test_oauth.py::test_without_a_person_the_server_needs_login_and_says_how",
            "test_oauth.py::test_login_and_logout_commands",
        ),
        "GLM is told once": ("test_oauth.py::test_glm_is_told_once_which_servers_need_a_login",),
    },
    "Each person with their own login": {
        "each person logs in on their own; a caller without a login never gets another's token": (
            "test_oauth.py::test_two_people_of_one_gateway_each_use_their_own_login",
        ),
        "OpenID Connect callers; the gateway's protected resource metadata": (
            "test_oauth.py::test_openid_connect_callers_are_people_and_the_gateway_publishes_its_resource_metadata",
        ),
    },
    "Remote servers behind OAuth: `authorization_code`": {
        "a person logs in": (
            "test_oauth.py::test_a_url_alone_logs_in_with_discovery_registration_pkce_and_the_resource",
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
    },
    "Remote servers behind OAuth: `client_credentials`": {
        "secret or private_key_jwt (the suite's extension scenarios)": (
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
    },
    "Remote servers behind OAuth: `jwt_bearer`": {
        "workload identity and enterprise-managed authorization (the suite's extension scenarios)": (
            "test_conformance.py::test_glm_mcp_as_a_client_passes_every_scenario_but_the_listed_ones",
        ),
    },
    "Configuration: `mcpServers`": {
        "Claude Desktop's shape: stdio, HTTP and SSE servers": (
            "test_config.py::test_claude_desktop_shape_gives_stdio_http_and_sse_servers",
        ),
        "VS Code's `servers` with `type`, merged with `mcpServers`; editors' own keys ignored": (
            "test_config.py::test_vscode_servers_shape_with_type_is_accepted",
            "test_config.py::test_mcp_servers_and_vscode_servers_are_merged",
            "test_config.py::test_vscode_variables_and_env_files_are_understood",
        ),
        "lookup: --config, $GLM_MCP_CONFIG, ./glm-mcp.json, the built-in default": (
            "test_config.py::test_lookup_order_is_flag_then_environment_then_working_directory",
        ),
    },
    'Configuration: `{"bundled": "clock" | "files" | "notes", "args": [...]}`': {
        "runs a bundled server inside the gateway's process, as the built-in default does": (
            "test_cli.py::test_serve_without_a_config_runs_the_bundled_servers_for_a_client_with_the_printed_token",
        ),
        "at most once per gateway; wrong args fail that server alone with its usage": (
            "servers/test_bundled.py::test_a_bundled_server_named_twice_or_unknown_is_a_config_error_that_says_what_to_do",
            "servers/test_bundled.py::test_a_bundled_server_given_wrong_args_fails_alone_saying_what_it_takes",
        ),
    },
    "Configuration: `${VAR}`": {
        "variables expand in every string, with defaults": (
            "test_config.py::test_variables_expand_everywhere_with_defaults",
        ),
        "an unset variable is an error naming it": (
            "test_config.py::test_an_unset_variable_in_model_or_gateway_is_still_an_error",
            "test_config.py::test_an_unset_variable_in_a_server_entry_fails_that_server_only_naming_it",
        ),
    },
    "Configuration: Per server": {
        "disabled": ("upstream/test_connection.py::test_a_disabled_server_is_listed_as_disabled_and_never_started",),
        "tools.allow / tools.deny, deny wins": (
            "test_catalog.py::test_deny_and_allow_globs_apply_to_the_servers_own_names_and_are_reported",
        ),
        "timeout, restarted by progress": (
            "upstream/test_connection.py::test_a_silent_call_times_out_with_an_error_naming_the_server_and_is_cancelled_upstream",
            "upstream/test_connection.py::test_a_call_outlives_its_timeout_while_progress_keeps_coming",
        ),
        "start_timeout": (
            "upstream/test_connection.py::test_a_server_slower_than_its_start_timeout_is_failed_with_that_reason",
        ),
        "max_starting_servers: stdio servers wait their turn; start_timeout counts from the spawn": (
            "test_processes.py::test_stdio_servers_past_max_starting_servers_wait_their_turn_and_their_start_timeout_runs_from_it",
        ),
        "prefix; `__` and `glm` refused": (
            "test_catalog.py::test_prefix_replaces_the_server_name",
            "test_security.py::test_a_server_name_with_a_double_underscore_is_a_config_error",
            "test_config.py::test_an_empty_prefix_passes_names_through_and_the_gateways_own_prefix_is_refused",
        ),
        '`"prefix": ""` passes names through; a clash at start is a config error naming both servers': (
            "test_catalog.py::test_a_passthrough_server_keeps_its_own_names_for_editors_and_for_calls",
            "test_catalog.py::test_a_passthrough_clash_found_at_start_is_a_config_error_naming_both_servers",
            "test_cli.py::test_two_passthrough_servers_sharing_a_name_stop_serve_and_stdio_with_a_config_error",
            "test_catalog.py::test_passthrough_names_cannot_take_the_gateways_own_or_a_prefixed_name",
        ),
        "a clash appearing later is left out and reported naming both servers": (
            "test_catalog.py::test_a_passthrough_clash_that_appears_after_start_is_left_out_and_said",
            "test_catalog.py::test_when_a_clash_is_let_through_as_for_doctor_the_name_is_left_out_and_reported_naming_both",
            "test_catalog.py::test_a_reload_that_makes_passthrough_names_clash_says_so_in_its_report",
        ),
        "destructive: deny by default, allow, ask": (
            "test_agent.py::test_destructive_tools_are_refused_unless_the_config_allows_them",
            "test_security.py::test_an_unannotated_tool_counts_as_destructive_in_the_loop_and_tools_json",
            "test_relay.py::test_destructive_ask_runs_the_call_when_the_editor_accepts",
            "test_relay.py::test_destructive_ask_tells_the_model_when_the_editor_declines_and_runs_nothing",
            "test_relay.py::test_destructive_ask_without_an_editor_that_can_confirm_refuses",
        ),
        "sampling: editor-then-glm, editor, glm, deny": (
            "test_sampling_guard.py::test_an_editor_that_cannot_sample_does_not_let_a_server_spend_the_model_key",
            "test_sampling_guard.py::test_a_call_outside_any_editor_or_loop_gets_the_servers_sampling_refused",
            "test_sampling_guard.py::test_inside_a_call_the_glm_loop_made_glm_answers_sampling_bounded",
            "test_sampling_guard.py::test_an_opted_in_server_is_clamped_rate_limited_logged_counted_and_shown",
            "test_relay.py::test_a_servers_sampling_request_reaches_the_editor_that_called_and_its_answer_comes_back",
            "test_relay.py::test_glm_answers_sampling_for_a_server_set_to_glm_with_the_requests_settings",
            "test_relay.py::test_sampling_set_to_deny_is_not_advertised_and_the_server_hears_a_refusal",
            "test_relay.py::test_sampling_is_advertised_to_a_server_only_where_someone_can_answer_it",
        ),
        "protocol: auto, legacy, 2026-07-28": (
            "upstream/test_modern.py::test_a_2026_only_server_is_connected_in_auto_mode_listed_called_and_its_changes_followed",
            "upstream/test_both_eras.py::test_a_server_of_both_eras_serves_each_editor_in_its_own_era_and_loses_nothing_either_offers",
            "upstream/test_both_eras.py::test_a_server_of_2026_only_sees_no_handshake_from_2026_editors_and_refuses_the_one_another_brings",
            "upstream/test_modern.py::test_an_era_pinned_in_the_config_is_the_only_one_tried_and_a_refusal_says_how_to_fix_it",
        ),
        "a relative cwd is taken from the config file's folder": (
            "test_config.py::test_relative_cwd_is_taken_from_the_config_files_folder",
        ),
        "env is added to a safe default environment": (
            "upstream/test_environment.py::test_proxy_ca_and_locale_variables_pass_and_nothing_else",
            "upstream/test_environment.py::test_inherit_env_passes_more_per_server_and_for_all",
        ),
        "one server's bad entry fails that server only": (
            "test_config.py::test_a_server_whose_entry_cannot_be_filled_in_is_reported_and_the_others_serve",
        ),
    },
    "Configuration: `model`": {
        "the key goes as a bearer token to the configured endpoint": (
            "model/test_client.py::test_the_key_goes_as_a_bearer_token",
        ),
        "max_concurrency requests in flight per model": (
            "model/test_client.py::test_concurrency_is_limited_per_model",
        ),
        "max_retries": ("model/test_client.py::test_retries_stop_at_the_limit_with_glms_code_and_status",),
        "read timeout": ("model/test_client.py::test_a_slow_endpoint_times_out_with_504_over_real_http",),
        "kept-alive connections, certificates from the system or SSL_CERT_FILE, gzip answers, proxies and URL credentials": (
            "model/test_lane.py::test_answers_that_keep_the_connection_share_one_and_connection_close_is_obeyed",
            "model/test_lane.py::test_a_connection_the_server_closed_after_an_answer_is_replaced_by_a_new_one",
            "model/test_lane.py::test_an_https_model_is_verified_against_ssl_cert_file_and_refused_when_untrusted",
            "model/test_lane.py::test_a_gzip_compressed_answer_is_read",
            "model/test_lane.py::test_an_answer_without_a_length_is_read_to_the_close_and_a_cut_chunked_one_is_an_error",
            "model/test_lane.py::test_a_proxy_named_in_the_environment_carries_the_request",
            "model/test_lane.py::test_credentials_in_the_url_go_as_basic_auth_through_httpx2",
            "model/test_lane.py::test_a_reload_reaches_the_new_endpoint_with_the_new_key_and_a_new_key_alone_keeps_the_connection",
        ),
    },
    "Configuration: `gateway`": {
        "auth_tokens: absent, a list, `[]`": (
            "test_security.py::test_without_auth_tokens_serve_generates_a_private_token_and_requires_it",
            "test_serve.py::test_bearer_tokens_guard_mcp_but_not_healthz",
            "test_security.py::test_an_empty_token_list_opens_loopback_explicitly_with_a_warning",
        ),
        "allowed_hosts": (
            "test_security.py::test_a_host_listed_in_allowed_hosts_gets_in_and_other_names_still_do_not",
        ),
        "allowed_origins": ("test_security.py::test_a_configured_origin_gets_correct_cors_answers",),
        "max_steps": ("test_agent.py::test_the_step_limit_ends_the_run_saying_which_limit",),
        "max_concurrent_runs, max_queued_runs": (
            "test_security.py::test_past_the_run_queue_a_chat_request_gets_429_with_retry_after",
        ),
        "max_connections, header_timeout, body_timeout": (
            "test_security.py::test_half_sent_requests_are_cut_off_and_healthz_keeps_answering",
            "test_flood.py::test_a_flood_of_1100_unfinished_requests_from_another_user_does_not_stop_token_holders",
            "test_flood.py::test_the_header_deadline_shortens_as_connections_near_the_cap",
        ),
        "session_idle_timeout, max_sessions, max_sessions_per_client": (
            "test_security.py::test_a_session_idle_past_its_timeout_is_gone_and_a_busy_one_stays",
            "test_isolation.py::test_the_per_client_session_cap_keys_on_the_token_not_on_how_the_header_is_written",
            "test_isolation.py::test_sse_streams_count_against_the_session_limits_and_their_posts_belong_to_their_opener",
            "test_isolation.py::test_event_streams_of_the_status_page_are_capped",
            "test_security.py::test_past_max_sessions_in_all_the_oldest_idle_session_of_any_client_makes_room",
            "test_security.py::test_one_client_opening_session_after_session_closes_its_own_oldest_idle_one",
        ),
        "roots": ("test_relay.py::test_roots_come_from_the_calling_editor_else_from_the_config",),
        "unknown keys are errors": ("test_config.py::test_unknown_keys_in_the_gateway_section_are_rejected",),
    },
    "Configuration: Every error names the file": {
        "the file, the JSON path and what would be valid": (
            "test_config.py::test_invalid_server_entries_name_the_file_and_json_path",
            "test_config.py::test_config_mistakes_are_named",
            "test_config.py::test_broken_json_names_line_and_column",
            "test_config.py::test_cli_reports_a_missing_config_file",
            "test_properties.py::test_config_loading_gives_a_config_or_a_config_error",
            "test_properties.py::test_server_entries_give_a_config_or_a_config_error",
        ),
    },
    "Behaviour: Names": {
        "`<server>__<tool>`, legal, cut with a hash, distinct, order-independent": (
            "test_naming.py::test_legal_names_are_kept_as_server_double_underscore_tool",
            "test_naming.py::test_illegal_characters_become_underscores",
            "test_naming.py::test_long_names_are_cut_to_64_with_a_stable_hash",
            "test_naming.py::test_colliding_names_all_survive_and_an_untouched_name_keeps_its_form",
            "test_naming.py::test_names_do_not_depend_on_arrival_order",
            "test_naming.py::test_hashed_names_are_pinned_so_an_upgrade_never_renames_a_users_tools",
            "test_properties.py::test_names_are_always_legal_distinct_and_reversible",
        ),
        "the server is called with the original name; two servers' same tools both exposed": (
            "test_catalog.py::test_two_servers_with_the_same_tools_are_both_exposed_under_their_names",
        ),
        "prompts named the same way; URIs kept, the first server keeps a shared one; resource names prefixed": (
            "test_catalog.py::test_resources_and_prompts_route_to_their_owner",
            "test_facade.py::test_resources_templates_and_prompts_are_served_through_the_face",
        ),
    },
    "Behaviour: Start-up": {
        "up once every server started or failed; a slower one joins later and editors are told": (
            "upstream/test_reliability.py::test_a_slow_starting_server_joins_the_catalog_when_ready",
        ),
        "stdio servers start in turns of max_starting_servers": (
            "test_processes.py::test_stdio_servers_past_max_starting_servers_wait_their_turn_and_their_start_timeout_runs_from_it",
        ),
        "one-shot commands wait for every server's turn and start_timeout": (
            "test_cli.py::test_doctor_waits_for_a_server_slower_than_ten_seconds_within_its_start_timeout",
            "test_config.py::test_one_shot_commands_wait_for_every_servers_turn_and_its_start_timeout",
        ),
    },
    "Behaviour: Failures are isolated": {
        "a server that fails to start is reported with its last stderr line; the others serve": (
            "upstream/test_connection.py::test_a_command_that_does_not_exist_fails_alone_and_says_why",
            "upstream/test_connection.py::test_a_server_that_exits_at_start_is_reported_with_its_last_stderr_line",
            "test_serve.py::test_healthz_is_up_and_readyz_reports_each_server_with_the_dead_one_explained",
        ),
        "supervised: reconnected with capped backoff; tools leave and come back, editors told": (
            "test_processes.py::test_a_server_killed_mid_call_answers_that_call_with_an_error_then_comes_back",
            "upstream/test_reliability.py::test_backoff_is_capped_starts_again_after_a_stable_session_and_a_crash_loop_is_logged_sparingly",
        ),
    },
    "Behaviour: Quarantine": {
        "every page read; a bad tool left out with its reason, the rest served": (
            "upstream/test_connection.py::test_every_page_is_read_and_bad_tools_are_quarantined_not_the_server",
            "test_interop.py::test_mcp_server_sqlite_serves_its_tools_though_its_template_listing_fails",
        ),
    },
    "Behaviour: Calls": {
        "a call, read or prompt goes to the owning server": (
            "test_catalog.py::test_resources_and_prompts_route_to_their_owner",
        ),
        "progress relayed to the editor": (
            "test_facade.py::test_an_editor_lists_and_calls_namespaced_tools_with_progress_relayed",
            "test_processes.py::test_progress_from_a_raw_server_is_relayed",
        ),
        "an editor's cancellation cancels the upstream request": (
            "test_facade.py::test_cancelling_a_call_in_the_editor_cancels_the_upstream_handler",
            "test_serve.py::test_cancelling_a_call_over_http_cancels_it_in_the_upstream_process",
        ),
        "a silent call ends with an error after `timeout` and is cancelled upstream": (
            "upstream/test_connection.py::test_a_silent_call_times_out_with_an_error_naming_the_server_and_is_cancelled_upstream",
            "test_processes.py::test_a_timed_out_call_is_cancelled_in_the_server_process_and_the_session_survives",
            "upstream/test_connection.py::test_a_silent_resource_or_prompt_is_an_upstream_timeout_not_a_protocol_error",
        ),
        "a failed call is an isError result naming the server (a server that is down too)": (
            "test_facade.py::test_a_tool_of_a_server_that_never_started_is_an_error_result_not_a_protocol_error",
            "upstream/test_connection.py::test_an_error_response_becomes_an_upstream_protocol_error",
        ),
        "an impossible tool name, unknown resource or prompt is -32602": (
            "test_facade.py::test_a_name_no_server_could_expose_is_the_protocols_unknown_tool_error",
            "test_facade.py::test_an_unknown_resource_or_prompt_is_a_json_rpc_invalid_params_error_naming_it",
        ),
    },
    "Behaviour: Change notifications": {
        "list_changed refreshes the server's part; every editor is told, over stdio and HTTP": (
            "upstream/test_connection.py::test_list_changed_from_a_server_refreshes_its_part_of_the_catalog",
            "test_facade.py::test_list_changed_reaches_every_connected_editor",
            "test_live.py::test_editing_the_config_of_a_running_serve_reaches_editors_and_spares_calls_in_flight",
        ),
        "upstream logs forwarded with the server's name, never waiting on slow editors": (
            "test_facade.py::test_upstream_log_messages_are_forwarded_with_the_server_name",
            "test_facade.py::test_upstream_logs_never_wait_for_slow_editors_past_the_queue_they_are_dropped_and_counted",
        ),
    },
    "Behaviour: A server's own questions": {
        "answered by the caller: a 2025-era editor on its request's stream": (
            "test_relay.py::test_a_servers_sampling_request_reaches_the_editor_that_called_and_its_answer_comes_back",
            "test_relay.py::test_over_http_the_editor_is_asked_on_its_own_request_stream",
            "test_interop.py::test_server_everything_asks_the_editor_through_glm_mcp_stdio",
        ),
        "a 2026-07-28 editor in InputRequiredResult rounds; unanswered ones cancelled": (
            "test_relay.py::test_a_2026_editor_is_asked_in_input_required_rounds_and_the_same_call_goes_on",
            "upstream/test_modern.py::test_answers_a_2026_editor_sends_with_its_first_request_answer_the_servers_question_without_a_round",
            "test_relay.py::test_a_call_paused_on_a_2026_editor_that_never_answers_is_cancelled_upstream",
            "test_relay.py::test_a_2026_editors_long_call_is_not_taken_for_a_paused_one",
            "test_interop.py::test_server_everything_asks_editors_of_both_eras_through_mcp",
        ),
        "a question on a call's response stream goes to that call's caller, whoever else waits": (
            "test_relay.py::test_a_question_on_the_response_stream_of_an_http_call_goes_to_that_caller_while_another_editor_waits",
            "test_relay.py::test_a_question_on_a_calls_own_stream_goes_to_that_caller_while_another_editor_waits",
        ),
        "while several editors wait on one server, a question that names no call goes to none of them": (
            "test_relay.py::test_a_question_that_names_no_request_goes_to_neither_of_two_waiting_editors",
        ),
        "GLM answers sampling when the editor cannot; unanswerable elicitation declined": (
            "test_relay.py::test_glm_answers_sampling_for_a_server_set_to_glm_with_the_requests_settings",
            "test_relay.py::test_a_2026_editor_that_cannot_sample_gets_glms_answer_in_a_single_round_where_opted_in",
            "test_relay.py::test_an_editor_without_elicitation_has_the_server_declined_not_hung",
            "model/test_sampling.py::test_a_conversation_with_tool_use_and_results_becomes_glm_messages_with_the_tools_compiled",
        ),
        "roots: the caller's, a connected editor's, then gateway.roots": (
            "test_relay.py::test_roots_come_from_the_calling_editor_else_from_the_config",
            "test_relay.py::test_roots_asked_outside_any_call_come_from_a_connected_editor",
        ),
        "a 2026-07-28 server's questions are answered the same way": (
            "upstream/test_modern.py::test_a_2026_servers_questions_reach_a_2025_editor_and_a_2026_editor",
        ),
        "each 2026-07-28 request declares its caller's capabilities; a server's -32021 reaches the editor": (
            "upstream/test_modern.py::test_a_2026_request_declares_what_its_caller_can_answer_not_what_the_gateway_could",
            "upstream/test_modern.py::test_a_servers_missing_capability_error_reaches_the_2026_editor_as_the_servers_own_error",
        ),
    },
    "Behaviour: Processes": {
        "children end when the gateway stops, even when it is killed": (
            "test_processes.py::test_no_child_process_outlives_the_gateway",
            "test_serve.py::test_no_child_process_outlives_a_gateway_killed_with_sigkill",
        ),
        "serve stops gracefully; a second signal cuts calls short; no traceback": (
            "test_serve.py::test_a_stop_signal_lets_the_call_in_flight_finish_then_ends_every_child",
            "test_serve.py::test_an_idle_editor_does_not_hold_shutdown_and_nothing_is_printed_but_logs",
            "test_serve.py::test_a_second_ctrl_c_cuts_a_call_short_without_printing_a_traceback",
        ),
        "SIGHUP reloads": (
            "gateway/test_reconfigure.py::test_a_reload_applies_a_difference_and_says_what_needs_a_new_socket",
        ),
    },
    "MCP features carried: tools, with titles, icons, annotations, `outputSchema`, `structuredContent` and `_meta`": {
        "unchanged but for the name": (
            "test_relay.py::test_titles_icons_annotations_output_schemas_structured_content_and_meta_pass_unchanged",
        ),
    },
    "MCP features carried: resources, resource templates, prompts": {
        "served": ("test_facade.py::test_resources_templates_and_prompts_are_served_through_the_face",),
    },
    "MCP features carried: `completion/complete` (prompt and template arguments)": {
        "relayed to the owning server": (
            "test_relay.py::test_completion_of_a_prompt_argument_is_relayed_under_the_exposed_name",
            "test_interop.py::test_server_everything_asks_editors_of_both_eras_through_mcp",
        ),
    },
    "MCP features carried: `resources/subscribe` / `unsubscribe`, `notifications/resources/updated`": {
        "relayed; updates reach the editors subscribed": (
            "test_relay.py::test_a_subscribed_editor_hears_its_resource_change_and_unsubscribing_reaches_the_server",
            "test_relay.py::test_an_editor_that_leaves_without_unsubscribing_has_its_subscription_withdrawn_upstream",
            "upstream/test_modern.py::test_an_editor_subscribed_to_a_2026_servers_resource_hears_it_change_and_unsubscribing_stops_it_upstream",
            "upstream/test_modern.py::test_subscriptions_to_a_2026_server_made_at_once_all_complete",
            "test_relay.py::test_a_2026_editor_listening_for_a_resource_hears_it_change_and_the_server_is_subscribed_meanwhile",
        ),
    },
    "MCP features carried: `list_changed` (tools, prompts, resources)": {
        "followed upstream and told to every editor": (
            "test_facade.py::test_list_changed_reaches_every_connected_editor",
            "upstream/test_modern.py::test_a_2026_only_server_is_connected_in_auto_mode_listed_called_and_its_changes_followed",
        ),
    },
    "MCP features carried: progress, cancellation": {
        "editor to server for calls": (
            "test_facade.py::test_cancelling_a_call_in_the_editor_cancels_the_upstream_handler",
            "test_facade.py::test_an_editor_lists_and_calls_namespaced_tools_with_progress_relayed",
        ),
        "a question the server withdraws is cancelled at the editor or dropped from the next round": (
            "test_relay.py::test_a_sampling_request_the_server_withdraws_is_cancelled_at_the_editor",
            "test_relay.py::test_over_http_a_withdrawn_sampling_request_is_cancelled_on_the_editors_request_stream",
            "test_relay.py::test_a_question_the_server_withdraws_is_not_asked_again_of_a_2026_editor",
            "test_relay.py::test_a_2026_editors_answer_to_a_withdrawn_question_is_ignored_and_its_call_ends_as_the_server_says",
        ),
        "the editor's progress on a server's question reaches the server under its own token": (
            "test_relay.py::test_progress_the_editor_reports_on_a_servers_request_reaches_that_server_under_its_own_token",
        ),
    },
    "MCP features carried: logging, `logging/setLevel`": {
        "upstream logs forwarded per editor, at its level": (
            "test_facade.py::test_upstream_log_messages_are_forwarded_with_the_server_name",
            "test_facade.py::test_each_editor_hears_upstream_logs_at_the_level_it_set",
        ),
    },
    "MCP features carried: `sampling/createMessage` (tools in sampling too)": {
        "to the calling editor; GLM when it cannot": (
            "test_relay.py::test_a_servers_sampling_request_reaches_the_editor_that_called_and_its_answer_comes_back",
            "test_relay.py::test_glm_answers_sampling_for_a_server_set_to_glm_with_the_requests_settings",
            "model/test_sampling.py::test_a_conversation_with_tool_use_and_results_becomes_glm_messages_with_the_tools_compiled",
            "model/test_sampling.py::test_glms_answer_is_a_result_naming_the_model_and_its_stop_reason",
        ),
    },
    "MCP features carried: `elicitation/create`, form and URL mode": {
        "to the calling editor; /v1 clients via glm__elicit": (
            "test_relay.py::test_a_form_elicitation_is_answered_by_the_editor_accepted_or_declined",
            "test_relay.py::test_a_url_elicitation_reaches_the_editor_with_its_url",
            "test_relay.py::test_a_v1_run_pauses_on_a_servers_question_as_glm_elicit_and_goes_on_with_the_clients_answer",
        ),
    },
    "MCP features carried: `roots/list`": {
        "the calling editor, else a connected editor, then gateway.roots": (
            "test_relay.py::test_roots_come_from_the_calling_editor_else_from_the_config",
            "test_relay.py::test_roots_asked_outside_any_call_come_from_a_connected_editor",
        ),
    },
    "MCP features carried: 2026-07-28 era: no handshake, `InputRequiredResult`, `subscriptions/listen`": {
        "for editors and for servers": (
            "test_relay.py::test_a_2026_editor_is_asked_in_input_required_rounds_and_the_same_call_goes_on",
            "upstream/test_modern.py::test_a_2026_only_server_is_connected_in_auto_mode_listed_called_and_its_changes_followed",
            "test_conformance.py::test_every_scored_scenario_of_each_revision_passes_directly_and_through_the_gateway",
        ),
    },
    "MCP features carried: HTTP+SSE transport (`/sse`, `/messages/`)": {
        "served behind the same token and Host checks": (
            "test_relay.py::test_the_old_sse_transport_serves_the_catalog_and_relays_questions_behind_the_same_guards",
            "test_inspector.py::test_the_inspector_cli_lists_and_calls_tools_over_sse_and_streamable_http",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Request": {
        "narrowing through `glm_mcp`, an unknown name a 400 naming the closest": (
            "test_chat_api.py::test_per_request_narrowing_through_extra_body",
            "test_agent.py::test_narrowing_offers_only_the_chosen_servers_and_tools",
            "test_chat_api.py::test_invalid_requests_get_400_saying_which_field",
        ),
        "max_steps can only lower the config's": (
            "test_security.py::test_a_client_cannot_raise_max_steps_past_the_config",
        ),
        "other fields pass to GLM; a GLM model name is kept, another replaced": (
            "test_chat_api.py::test_tool_choice_none_offers_no_tools_and_extra_fields_pass_through",
        ),
        "temperature and top_p brought into GLM's ranges": (
            "test_chat_api.py::test_sampling_values_outside_glms_range_are_brought_into_it",
        ),
        "n must be 1; tool_choice required or named is a 400": (
            "test_chat_api.py::test_invalid_requests_get_400_saying_which_field",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): A person's input": {
        "an opted-in run pauses as glm__elicit and goes on, streamed or not": (
            "test_relay.py::test_a_v1_run_pauses_on_a_servers_question_as_glm_elicit_and_goes_on_with_the_clients_answer",
            "test_relay.py::test_a_streamed_v1_run_pauses_and_resumes_too",
            "test_relay.py::test_an_answer_to_an_unknown_paused_run_is_a_400",
        ),
        "without the opt-in, questions are declined": (
            "test_relay.py::test_without_opting_in_a_v1_clients_run_has_the_question_declined",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Tools offered": {
        "the client's tools first; a gateway tool whose name a client tool takes is left out": (
            "test_chat_api.py::test_a_client_tool_that_takes_a_gateway_tools_name_wins_and_the_offer_says_so",
        ),
        "schemas compiled for GLM; one that cannot be compiled left out with the reason": (
            "tools/test_schema.py::test_bundled_servers_compile_to_golden_schemas",
            "tools/test_schema.py::test_third_party_servers_compile_to_golden_schemas",
            "tools/test_schema.py::test_hard_cases_compile_to_golden_schemas",
            "tools/test_schema.py::test_schemas_that_cannot_be_compiled_say_why",
            "test_properties.py::test_the_schema_compiler_never_raises_anything_but_schema_error_and_its_output_is_glm_acceptable",
        ),
        "`events: false` leaves the events out": (
            "test_model_faults.py::test_the_common_streaming_loops_of_the_openai_sdk_never_crash_on_gateway_events",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Each step": {
        "calls run concurrently and every one is answered": (
            "test_agent.py::test_tool_calls_of_one_step_run_concurrently",
            "test_agent.py::test_every_call_is_answered_failures_invalid_arguments_and_unknown_names_alike",
        ),
        "results: text, structured content, notes for media, cut past 20,000 characters": (
            "tools/test_results.py::test_text_is_kept_and_the_sdk_json_twin_of_structured_content_is_said_once",
            "tools/test_results.py::test_structured_content_alone_becomes_compact_json",
            "tools/test_results.py::test_structured_content_that_only_repeats_the_text_is_said_once",
            "tools/test_results.py::test_images_blobs_and_links_become_short_notes",
            "tools/test_results.py::test_long_results_are_cut_with_a_note_of_how_much",
            "tools/test_results.py::test_errors_say_so",
        ),
        "each turn goes back with its reasoning_content and arguments GLM accepts": (
            "test_agent.py::test_reasoning_content_of_each_step_goes_back_with_its_tool_results",
            "test_agent.py::test_a_run_across_two_servers_sends_the_model_exactly_this_transcript",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Tool calls that cannot do harm": {
        "a refusal rather than a changed value": (
            "test_fidelity.py::test_no_faulty_call_is_corrupted_or_dropped_and_every_recoverable_one_runs_as_intended",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): A cut-off call never runs": {
        "never completed; the model is told where and asked again": (
            "test_model_faults.py::test_a_call_cut_off_by_the_token_limit_never_runs_and_the_model_is_asked_again",
            "tools/test_arguments.py::test_arguments_cut_off_are_never_completed",
            "tools/test_arguments.py::test_every_proper_prefix_of_an_arguments_object_is_refused_as_cut_off",
            "tools/test_arguments.py::test_a_nested_document_cut_off_inside_a_string_is_refused_naming_the_parameter",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Repairs never change a value": {
        "near-JSON read as written; the unreadable refused naming the parameter": (
            "tools/test_arguments.py::test_near_json_is_repaired_and_coerced_where_the_schema_is_clear",
            "tools/test_arguments.py::test_slips_that_carry_no_value_are_read_and_every_value_stays_as_written",
            "tools/test_arguments.py::test_python_literal_escaped_wrapped_and_fenced_forms_read_back_to_the_same_values",
            "tools/test_arguments.py::test_a_value_that_cannot_be_read_as_written_is_refused_naming_the_parameter",
            "tools/test_arguments.py::test_unbalanced_closing_brackets_are_refused",
            "test_properties.py::test_argument_repair_gives_a_dict_or_a_clear_error",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Schema-guided decoding at any depth": {
        "strings decoded where the schema wants objects, arrays and scalars; then validated": (
            "tools/test_arguments.py::test_objects_sent_as_strings_are_decoded_wherever_the_schema_wants_them",
            "tools/test_arguments.py::test_invalid_arguments_get_a_short_message_naming_the_parameter",
            "tools/test_arguments.py::test_empty_arguments_are_an_empty_object",
            "tools/test_arguments.py::test_an_invalid_schema_lets_arguments_through_unchecked",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): GLM's own call format, leaked": {
        "a block naming an offered tool becomes a call; a cut one never runs; other text stays": (
            "model/test_xml_calls.py::test_a_block_naming_an_offered_tool_becomes_a_call_and_leaves_the_text",
            "model/test_xml_calls.py::test_a_block_the_text_ends_inside_is_a_cut_off_call_when_it_names_an_offered_tool",
            "model/test_xml_calls.py::test_a_stream_split_at_every_position_gives_the_same_text_and_calls",
            "model/test_xml_calls.py::test_text_that_only_looks_like_a_tag_is_shown_and_an_unclosed_block_of_another_tool_is_kept_as_text",
            "model/test_xml_calls.py::test_zero_argument_calls_and_blocks_naming_other_tools",
            "test_model_faults.py::test_calls_leaked_as_glm_xml_run_and_leave_the_streamed_text",
            "test_model_faults.py::test_a_leaked_block_naming_no_offered_tool_stays_in_the_answer",
        ),
        "tags leaked into a structured call are dropped": (
            "model/test_xml_calls.py::test_leaked_tags_in_a_structured_call_are_cleaned",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Scored on a corpus": {
        "0 corrupted, 0 dropped, JSON and streamed": (
            "test_fidelity.py::test_no_faulty_call_is_corrupted_or_dropped_and_every_recoverable_one_runs_as_intended",
            "test_fidelity.py::test_the_corpus_scores_the_same_when_the_answers_are_streamed",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): End": {
        "a client tool call ends the response for the client": (
            "test_agent.py::test_a_call_to_a_client_tool_ends_the_turn_for_the_client_to_run",
            "test_chat_api.py::test_a_client_tool_call_comes_back_for_the_client_to_run_and_gateway_tools_never_do",
        ),
        "a client call goes with strict JSON arguments fitted to its schema; one that does not fit goes back to GLM": (
            "test_anthropic_face.py::test_a_client_tool_call_goes_with_its_arguments_as_json_and_one_that_cannot_be_read_goes_back_to_glm",
            "test_chat_api.py::test_a_client_tool_call_comes_back_as_the_json_glm_meant_fitted_to_the_tools_schema",
            "test_anthropic_face.py::test_claude_code_runs_its_own_tool_when_glm_writes_the_call_as_near_json",
        ),
        "limits end the run with length and stopped_by, streamed too": (
            "test_agent.py::test_the_step_limit_ends_the_run_saying_which_limit",
            "test_agent.py::test_the_tool_call_limit_ends_the_run",
            "test_agent.py::test_the_wall_time_limit_ends_the_run",
            "test_chat_api.py::test_a_streamed_run_stopped_by_a_limit_ends_with_length_the_limit_named_and_stopped_by",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Streaming": {
        "deltas of every step, events, one finish, usage, [DONE]": (
            "test_chat_api.py::test_streaming_sends_deltas_of_every_step_tool_events_and_one_finish",
            "test_agent.py::test_streamed_runs_report_deltas_and_tool_events_in_order",
        ),
        "the openai SDK's common loops never crash on gateway chunks": (
            "test_model_faults.py::test_the_common_streaming_loops_of_the_openai_sdk_never_crash_on_gateway_events",
        ),
        "a model error before any text gets a real status": (
            "test_model_faults.py::test_a_glm_error_inside_a_200_answer_is_never_answered_with_a_2xx",
        ),
        "a client that disconnects cancels the model request and the tool calls": (
            "test_chat_api.py::test_a_client_that_disconnects_cancels_the_model_request",
            "test_chat_api.py::test_a_client_that_disconnects_cancels_running_tool_calls",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Finish reasons": {
        "sensitive ends as content_filter with a message": (
            "test_model_faults.py::test_the_safety_filter_ends_the_run_as_content_filter_with_a_message",
        ),
        "length and model_context_window_exceeded pass through with a note": (
            "test_model_faults.py::test_a_final_answer_cut_by_a_limit_passes_through_with_a_note",
        ),
        "network_error is retried": ("model/test_client.py::test_network_error_finish_is_retried",),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): GLM's wire quirks handled": {
        "every recorded stream generation read to [DONE], fragments joined": (
            "model/test_client.py::test_every_recorded_answer_is_read_whole",
            "model/test_client.py::test_parallel_tool_calls_survive_every_stream_generation",
            "fakes/test_fake_glm.py::test_streams_have_the_recorded_shape",
            "fakes/test_fake_glm.py::test_bodies_have_the_recorded_fields",
        ),
        "an error inside a 200 stream": (
            "model/test_client.py::test_an_error_inside_a_200_stream_is_an_error_with_its_code",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): Errors and retries": {
        "429, 5xx and the retryable codes retried with backoff or Retry-After": (
            "model/test_client.py::test_transient_failures_are_retried",
            "model/test_client.py::test_retries_stop_at_the_limit_with_glms_code_and_status",
        ),
        "a retried stream sends only past what the client has, saying where it differs": (
            "model/test_client.py::test_a_retry_whose_text_differs_says_from_where_it_replaces_before_the_new_text",
            "model/test_client.py::test_a_stream_aborted_by_network_error_is_retried_without_repeating_what_the_reader_has",
            "test_model_faults.py::test_a_stream_aborted_by_network_error_ends_with_the_answer_of_the_retry",
        ),
        "key, balance, model and length errors fail at once saying what to do": (
            "model/test_client.py::test_key_balance_model_and_length_errors_fail_fast_saying_what_to_do",
        ),
        "OpenAI-style errors with GLM's status and code; a GLM error in a 200 is 502 or 429": (
            "test_chat_api.py::test_glm_errors_come_back_openai_style_with_glms_code",
            "model/test_client.py::test_an_error_inside_a_200_body_is_reported_as_502_and_a_rate_limit_as_429",
            "test_model_faults.py::test_a_glm_error_inside_a_200_answer_is_never_answered_with_a_2xx",
        ),
        "unreachable 502, timeout 504, garbage a clear error": (
            "model/test_client.py::test_an_unreachable_endpoint_is_a_502_naming_it",
            "model/test_client.py::test_a_slow_endpoint_times_out_with_504_over_real_http",
            "model/test_client.py::test_garbage_from_the_endpoint_is_a_clear_error",
        ),
    },
    "The GLM tool loop (`/v1/chat/completions`, `glm__agent`, `chat`): `glm__agent`": {
        "the answer, with a progress notification per tool call; a model failure is an error result": (
            "test_agent_tool.py::test_an_editor_calling_glm_agent_gets_the_answer_with_progress_per_tool_call",
            "test_agent_tool.py::test_glm_agent_reports_a_model_failure_as_an_error_result",
        ),
    },
    "HTTP endpoints: `/mcp`": {
        "stateful streamable HTTP; JSON unless the answer must stream": (
            "test_serve.py::test_an_mcp_client_lists_and_calls_tools_over_streamable_http",
            "test_serve.py::test_each_mcp_post_is_answered_as_json_unless_it_asked_for_progress",
            "test_relay.py::test_over_http_only_sessions_that_can_be_asked_get_streamed_answers",
        ),
        "resumable streams: the priming event and retry, Last-Event-ID, each session's events its own, bounded": (
            "test_resumable_streams.py::test_a_broken_stream_is_resumed_with_last_event_id_and_loses_nothing",
            "test_resumable_streams.py::test_another_sessions_event_id_replays_nothing",
            "test_resumable_streams.py::test_a_client_older_than_resumability_gets_no_priming_event",
            "test_resumable_streams.py::test_the_kept_events_stay_within_their_bounds_and_a_session_keeps_only_its_own",
        ),
        "tools/call and tools/list of a known session answered beside the SDK, as it would answer them": (
            "test_fast_lane.py::test_calls_and_listings_in_the_lane_are_answered_as_the_sdk_answers_them",
            "test_fast_lane.py::test_what_the_lane_does_not_know_goes_to_the_sdk_unchanged",
            "test_fast_lane.py::test_a_cancelled_call_in_the_lane_ends_at_once_with_request_cancelled",
            "test_fast_lane.py::test_a_session_busy_in_the_lane_outlives_its_idle_timeout",
            "test_fast_lane.py::test_a_listing_in_the_lane_follows_the_catalog",
        ),
    },
    "HTTP endpoints: `/sse`": {
        "the older HTTP+SSE transport": (
            "test_relay.py::test_the_old_sse_transport_serves_the_catalog_and_relays_questions_behind_the_same_guards",
        ),
    },
    "HTTP endpoints: `/v1/chat/completions`": {
        "/v1/models lists and retrieves the models": (
            "test_chat_api.py::test_models_lists_every_model_a_client_may_name_and_retrieves_one",
        ),
        "malformed, oversized and fuzzed bodies get a 4xx with a JSON error": (
            "test_chat_api.py::test_malformed_json_gets_400",
            "test_bounds.py::test_deeply_nested_json_is_a_400_json_error_on_every_route",
            "test_bounds.py::test_admin_bodies_have_the_same_size_limit_as_mcp",
            "test_http_inputs.py::test_fuzzed_bodies_never_get_a_500_and_always_a_json_answer",
            "test_http_inputs.py::test_oversized_bodies_are_refused_with_413",
            "test_http_inputs.py::test_too_many_client_tools_are_refused",
        ),
    },
    "HTTP endpoints: `/metrics`": {
        "the listed series": (
            "test_chat_api.py::test_metrics_count_tool_calls_and_completions_and_show_server_state",
            "test_chat_api.py::test_metrics_count_the_loops_own_answers_model_requests_and_the_process",
            "test_chat_api.py::test_tool_call_durations_fall_into_cumulative_buckets",
        ),
    },
    "HTTP endpoints: `/healthz`": {
        "ok while up; /readyz each server's state, 503 while one is down": (
            "test_serve.py::test_healthz_is_up_and_readyz_reports_each_server_with_the_dead_one_explained",
        ),
    },
    "Many tools: progressive discovery: Under the limits": {
        "every tool offered": (
            "test_chat_api.py::test_streaming_sends_deltas_of_every_step_tool_events_and_one_finish",
        ),
        "a token budget chooses the offer even under 128 tools": (
            "test_discovery.py::test_a_token_budget_under_the_count_limit_chooses_the_offer_too",
        ),
    },
    "Many tools: progressive discovery: Past them": {
        "the client's, the pinned, the most relevant and glm__find_tools; refused tools take no slot": (
            "test_discovery.py::test_past_the_cap_a_request_is_offered_what_it_needs_and_find_tools_brings_in_a_missed_one",
            "test_discovery.py::test_pinned_tools_are_always_offered_and_refused_tools_take_no_slot",
            "test_agent.py::test_past_128_tools_the_offer_is_chosen_and_a_tool_not_offered_still_runs_and_joins_it",
        ),
        "BM25 ranking over names, descriptions and parameters": (
            "test_discovery.py::test_the_index_ranks_the_tool_a_request_needs_first",
            "test_discovery.py::test_the_discovery_benchmark_meets_its_recall_and_token_targets_and_the_readme_says_so",
        ),
    },
    "Many tools: progressive discovery: The model can look": {
        "glm__find_tools adds matches to later steps; the offer only grows; an unoffered tool runs and joins": (
            "test_discovery.py::test_past_the_cap_a_request_is_offered_what_it_needs_and_find_tools_brings_in_a_missed_one",
            "test_agent.py::test_past_128_tools_the_offer_is_chosen_and_a_tool_not_offered_still_runs_and_joins_it",
        ),
    },
    "Many tools: progressive discovery: Nothing silent": {
        "the offer's counts and reasons in the response and the stream": (
            "test_discovery.py::test_past_the_cap_a_request_is_offered_what_it_needs_and_find_tools_brings_in_a_missed_one",
            "test_chat_api.py::test_streaming_sends_deltas_of_every_step_tool_events_and_one_finish",
            "test_chat_api.py::test_a_client_tool_that_takes_a_gateway_tools_name_wins_and_the_offer_says_so",
        ),
    },
    "Many tools: progressive discovery: Editors too": {
        "search mode lists three tools and calls any": (
            "test_discovery.py::test_an_editor_in_search_mode_lists_three_tools_and_can_call_any_of_the_catalog",
        ),
    },
    "Live operations: Reload without a restart": {
        "file changes, SIGHUP and /admin/reload; a difference applied; what needs a restart said": (
            "gateway/test_reconfigure.py::test_a_reload_applies_a_difference_and_says_what_needs_a_new_socket",
            "test_live.py::test_editing_the_config_of_a_running_serve_reaches_editors_and_spares_calls_in_flight",
            "test_live.py::test_glm_mcp_stdio_reloads_its_config_too",
        ),
    },
    "Live operations: One server at a time": {
        "restart, disable, enable over /admin and the CLI": (
            "test_live.py::test_one_server_at_a_time_over_the_admin_api_and_the_cli",
        ),
        "/admin needs the token and is refused from other origins": (
            "test_security.py::test_a_local_page_is_refused_on_every_route_and_so_is_a_foreign_host",
        ),
    },
    "Live operations: A status page": {
        "servers, tools, calls, model requests, a call form, reload; in headless Chromium": (
            "test_status_page.py::test_the_status_page_shows_the_gateway_live_and_drives_it",
            "test_live.py::test_the_status_data_lists_every_tool_with_its_policy_quarantined_ones_included",
        ),
    },
    "Teams: replicas, budgets, traces: 2026-07-28 requests are answered by": {
        "any replica answers; rounds passed to the replica holding the call; a dead one's refused": (
            "test_replicas.py::test_a_2026_editor_is_served_by_any_replica",
            "test_replicas.py::test_a_2026_round_started_on_one_replica_is_answered_on_another",
            "test_replicas.py::test_a_round_whose_replica_died_is_refused_with_a_message_to_start_again",
        ),
    },
    "Teams: replicas, budgets, traces: a 2025-era `Mcp-Session-Id` is valid": {
        "revived on any replica for its own caller only": (
            "test_replicas.py::test_one_2025_session_is_served_by_every_replica_behind_round_robin",
            "test_replicas.py::test_a_session_is_refused_to_another_token_on_every_replica",
            "test_replicas.py::test_a_session_ended_on_one_replica_is_gone_on_every_replica",
        ),
    },
    "Teams: replicas, budgets, traces: the events of `/mcp` streams": {
        "resumed on another replica with Last-Event-ID": (
            "test_replicas.py::test_a_stream_broken_on_one_replica_is_resumed_on_another_with_last_event_id",
            "test_replicas.py::test_a_call_still_running_on_one_replica_is_followed_to_its_answer_on_another",
        ),
    },
    "Teams: replicas, budgets, traces: a replica that dies costs": {
        "the session goes on on another replica": (
            "test_replicas.py::test_a_replica_killed_mid_session_leaves_the_session_working_on_the_other",
            "test_replicas.py::test_a_call_whose_replica_dies_gets_an_error_answer_on_the_replica_that_resumed_it",
        ),
    },
    "Teams: replicas, budgets, traces: a reload on one replica": {
        "the published text is applied by every other replica": (
            "test_replicas.py::test_a_reload_on_one_replica_reaches_the_other",
        ),
    },
    "Teams: replicas, budgets, traces: each replica publishes its status": {
        "every live replica listed; no Redis, not ready": (
            "test_replicas.py::test_the_status_of_each_replica_lists_every_live_replica_with_its_servers",
            "test_status_page.py::test_the_status_page_lists_every_replica_and_each_callers_budget",
            "test_replicas.py::test_a_replica_that_loses_redis_is_not_ready_and_says_why",
            "test_replicas.py::test_a_replica_whose_redis_cannot_be_reached_does_not_start_and_says_why",
        ),
    },
    "Teams: replicas, budgets, traces: Deployment on existing engines": {
        "the chart renders valid objects; the compose set-up; its nginx.conf runs in the tests": (
            "test_deploy.py::test_the_chart_renders_valid_kubernetes_objects_for_a_team_and_glm_mcp_reads_its_config",
            "test_deploy.py::test_an_external_redis_autoscaling_and_traces_render_valid_objects_and_a_missing_token_is_refused",
            "test_deploy.py::test_the_compose_file_runs_two_replicas_behind_nginx_on_one_redis",
            "test_replicas.py::test_one_2025_session_is_served_by_every_replica_behind_round_robin",
        ),
    },
    "Teams: replicas, budgets, traces: Budgets per caller": {
        "three limits, per token over global, 429 naming the limit on every face, shared by replicas": (
            "test_budgets.py::test_tokens_per_day_refuse_the_next_run_on_every_face_once_spent",
            "test_budgets.py::test_concurrent_runs_refuse_a_second_run_while_the_first_holds_its_slot",
            "test_budgets.py::test_a_tokens_own_limits_override_the_global_ones_and_are_counted_per_person",
            "test_budgets.py::test_an_mcp_request_over_its_budget_gets_a_json_rpc_error_with_retry_after",
            "test_budgets.py::test_limits_in_the_config_are_checked_with_a_message_that_names_the_field",
            "test_replicas.py::test_requests_per_minute_hold_across_replicas_and_name_the_limit",
            "test_replicas.py::test_run_slots_and_tokens_are_counted_once_for_all_replicas",
        ),
    },
    "Teams: replicas, budgets, traces: Traces": {
        "spans over OTLP in the caller's trace, passed on; nothing when off": (
            "test_tracing.py::test_spans_reach_the_collector_in_the_callers_trace_and_go_on_to_glm_and_http_servers",
            "test_tracing.py::test_without_otel_variables_nothing_is_sent_and_the_sdk_is_not_even_imported",
        ),
    },
    "Security: another local user or process runs tools or spends the key": {
        "a generated 0600 token required on /mcp, /v1 and /admin": (
            "test_isolation.py::test_metrics_need_the_token_and_healthz_does_not",
            "test_isolation.py::test_a_401_says_which_token_to_send",
            "test_isolation.py::test_readyz_shows_config_error_detail_only_with_the_token",
            "test_security.py::test_without_auth_tokens_serve_generates_a_private_token_and_requires_it",
            "test_serve.py::test_bearer_tokens_guard_mcp_but_not_healthz",
        ),
        "`[]` turns it off on loopback only, with a warning": (
            "test_security.py::test_an_empty_token_list_opens_loopback_explicitly_with_a_warning",
        ),
    },
    "Security: an empty secret opens the door (`GLM_MCP_TOKEN=` in Docker or compose)": {
        "a config error; the Docker image refuses to start": (
            "test_security.py::test_an_empty_or_blank_token_is_a_config_error_that_does_not_echo_it",
            "test_security.py::test_the_docker_image_refuses_to_start_with_an_empty_token",
        ),
    },
    "Security: exposure beyond the machine": {
        "a public bind without tokens is refused": (
            "test_bounds.py::test_a_token_shorter_than_32_characters_is_refused_on_a_non_loopback_bind",
            "test_serve.py::test_binding_a_public_address_without_tokens_is_refused_with_exit_code_2",
        ),
    },
    "Security: a web page drives the gateway (CSRF, DNS rebinding)": {
        "Host checked on every route; Origin refused unless listed; JSON only on /v1": (
            "test_security.py::test_a_local_page_is_refused_on_every_route_and_so_is_a_foreign_host",
            "test_serve.py::test_a_foreign_host_header_is_refused_against_dns_rebinding",
            "test_http_inputs.py::test_v1_checks_host_and_origin_against_dns_rebinding",
            "test_security.py::test_a_configured_origin_gets_correct_cors_answers",
            "test_security.py::test_v1_takes_json_only_so_a_page_cannot_post_without_a_preflight",
        ),
    },
    "Security: secrets leak through what the gateway shows": {
        "secrets replaced by *** everywhere shown": (
            "test_secrets.py::test_no_secret_appears_in_output_logs_or_responses",
            "test_security.py::test_readyz_and_the_log_show_no_url_key_and_no_secret_from_a_servers_stderr",
            "test_security.py::test_readyz_shows_a_failing_sse_url_without_its_credentials_or_query_values",
            "test_security.py::test_config_errors_never_echo_a_secret_bearing_value",
            "test_config.py::test_a_config_error_never_echoes_a_value_filled_in_from_a_variable",
            "test_bounds.py::test_url_path_segments_that_look_like_keys_are_hidden",
        ),
    },
    "Security: the model runs a destructive tool": {
        "destructive by the spec's defaults; refused unless allowed; the bundled servers annotate every tool": (
            "test_security.py::test_an_unannotated_tool_counts_as_destructive_in_the_loop_and_tools_json",
            "test_agent.py::test_destructive_tools_are_refused_unless_the_config_allows_them",
            "test_security.py::test_the_bundled_servers_annotate_every_tool",
            "test_isolation.py::test_glm_call_tool_applies_the_destructive_policy_when_the_caller_cannot_be_asked",
            "test_status_page.py::test_the_page_asks_before_a_destructive_call_and_runs_under_its_content_security_policy",
        ),
    },
    "Security: the model runs a call it did not finish, or a value it did not write": {
        "cut-off arguments never run; repairs never change a value": (
            "test_model_faults.py::test_a_call_cut_off_by_the_token_limit_never_runs_and_the_model_is_asked_again",
            "test_fidelity.py::test_no_faulty_call_is_corrupted_or_dropped_and_every_recoverable_one_runs_as_intended",
        ),
    },
    "Security: a client asks for more than the config allows": {
        "max_steps only lowered": ("test_security.py::test_a_client_cannot_raise_max_steps_past_the_config",),
    },
    "Security: a regular expression pins the `files` server": {
        "RE2, no backtracking": ("test_security.py::test_a_catastrophic_regex_cannot_pin_the_files_server",),
    },
    "Security: the `files` server opens what it should not": {
        "paths resolved and refused outside the root; only regular files opened": (
            "servers/test_bundled.py::test_files_refuses_paths_that_escape_the_root",
            "test_security.py::test_fifos_sockets_and_broken_symlinks_are_skipped_never_opened",
            "servers/test_bundled.py::test_a_folder_swapped_for_a_symlink_during_reads_never_leaks_a_file_outside_the_root",
        ),
    },
    "Security: concurrent writes lose notes": {
        "40 adds from two processes, 40 notes": (
            "test_security.py::test_forty_concurrent_adds_from_two_processes_store_forty_notes_with_unique_ids",
        ),
    },
    "Security: one client opens sessions until editors are refused": {
        "idle expiry; the oldest idle session makes room, per client and in all": (
            "test_security.py::test_one_client_opening_session_after_session_closes_its_own_oldest_idle_one",
            "test_security.py::test_past_max_sessions_in_all_the_oldest_idle_session_of_any_client_makes_room",
            "test_security.py::test_a_session_idle_past_its_timeout_is_gone_and_a_busy_one_stays",
        ),
    },
    "Security: many large chat bodies exhaust memory, or slow ones hold the runs": {
        "runs admitted once bodies arrived, bodies' byte budget; 429 past the queue; 413 past 8 MiB": (
            "test_bounds.py::test_bodies_that_trickle_in_hold_no_run_slot_and_have_a_byte_budget",
            "test_security.py::test_past_the_run_queue_a_chat_request_gets_429_with_retry_after",
            "test_http_inputs.py::test_oversized_bodies_are_refused_with_413",
        ),
    },
    "Security: half-sent requests starve the server (slowloris)": {
        "408 and closed; 503 past max_connections; /healthz keeps answering": (
            "test_security.py::test_half_sent_requests_are_cut_off_and_healthz_keeps_answering",
        ),
    },
    "Security: a server writes an endless line": {
        "stopped and reported": ("test_security.py::test_a_server_writing_an_endless_line_is_stopped_and_reported",),
    },
    "Security: hostile JSON": {
        "deep nesting a 400; NaN and Infinity refused": (
            "test_security.py::test_a_body_nested_100000_deep_is_a_400",
            "test_security.py::test_a_chat_body_nested_past_the_depth_limit_is_refused_before_any_model_request",
            "test_chat_api.py::test_malformed_json_gets_400",
        ),
        "half of a surrogate pair in a chat face's body a 400 naming the field, on /mcp a parse error": (
            "test_http_inputs.py::test_half_an_emoji_in_a_request_is_refused_with_400_naming_where_it_is",
            "test_fast_lane.py::test_half_an_emoji_on_a_known_session_is_a_parse_error_and_the_session_goes_on",
            "test_properties.py::test_the_wire_reads_json_as_pythons_own_json_does",
            "test_http_inputs.py::test_fuzzed_bodies_never_get_a_500_and_always_a_json_answer",
        ),
    },
    "Security: two names collide to shadow a tool": {
        "`__` in a server name or prefix is a config error": (
            "test_security.py::test_a_server_name_with_a_double_underscore_is_a_config_error",
        ),
    },
    "Security: a name impersonates the gateway's own tools": {
        "judged after NFKC, in lower case": (
            "test_catalog.py::test_names_that_only_look_different_cannot_impersonate_the_gateway_or_shadow_a_server",
            "test_config.py::test_an_empty_prefix_passes_names_through_and_the_gateways_own_prefix_is_refused",
        ),
    },
    "Security: an upstream server spends the model key on its own": {
        "a person or an opt-in; clamped, rate-limited, logged, counted, shown": (
            "test_sampling_guard.py::test_an_editor_that_cannot_sample_does_not_let_a_server_spend_the_model_key",
            "test_sampling_guard.py::test_a_call_outside_any_editor_or_loop_gets_the_servers_sampling_refused",
            "test_sampling_guard.py::test_inside_a_call_the_glm_loop_made_glm_answers_sampling_bounded",
            "test_sampling_guard.py::test_an_opted_in_server_is_clamped_rate_limited_logged_counted_and_shown",
        ),
    },
    "Security: one caller reaches another's session, state, logs or roots": {
        "sessions, states, logs and roots kept to their caller": (
            "test_isolation.py::test_a_session_belongs_to_the_token_that_opened_it",
            "test_isolation.py::test_a_request_state_is_bound_to_its_caller_and_its_call",
            "test_isolation.py::test_a_paused_v1_run_is_resumed_only_by_the_client_that_started_it",
            "test_isolation.py::test_a_servers_log_during_one_editors_call_reaches_that_editor_only",
            "test_isolation.py::test_a_server_gets_only_the_roots_of_the_editor_whose_call_it_serves",
        ),
    },
    "Security: callers' data piles up in memory": {
        "2 KB of arguments kept; 150 × 3.9 MB within 50 MB": (
            "test_bounds.py::test_150_calls_with_4_mb_arguments_leave_memory_where_it_was",
        ),
    },
    "Security: the metrics grow or leak": {
        "bounded labels; behind the token": (
            "test_bounds.py::test_model_names_a_caller_makes_up_do_not_become_metric_series",
            "test_isolation.py::test_metrics_need_the_token_and_healthz_does_not",
        ),
    },
    "Security: upstream text forges log lines": {
        "control characters escaped": ("test_bounds.py::test_upstream_text_is_logged_with_control_characters_escaped",),
    },
    "Security: the built-in config hands tools the user's keys": {
        "the data folder instead, with a warning": (
            "test_config.py::test_the_built_in_config_never_serves_a_folder_holding_the_users_keys",
        ),
    },
    "Security: script injected into the status page": {
        "a CSP of its own script and style": (
            "test_status_page.py::test_the_page_asks_before_a_destructive_call_and_runs_under_its_content_security_policy",
        ),
    },
    "Security: `install` clobbers a file or leaks the token": {
        "backups never overwritten nor through a symlink; modes kept; the token file private": (
            "test_security.py::test_install_never_writes_a_backup_through_a_symlink_nor_widens_a_mode",
            "test_security.py::test_install_writes_through_a_symlinked_config_to_its_target",
            "test_security.py::test_install_http_writes_the_token_into_an_entry_only_its_owner_can_read",
        ),
    },
    "Reliability: a stdio server killed with SIGKILL (or exiting) mid-call": {
        "that call errors naming the server; restarts; later calls work": (
            "test_processes.py::test_a_server_killed_with_sigkill_mid_call_answers_the_call_with_an_error",
            "test_processes.py::test_a_server_killed_mid_call_answers_that_call_with_an_error_then_comes_back",
            "upstream/test_reliability.py::test_backoff_is_capped_starts_again_after_a_stable_session_and_a_crash_loop_is_logged_sparingly",
        ),
    },
    "Reliability: a hung call": {
        "ends after timeout, cancelled upstream, the session stays usable": (
            "test_processes.py::test_a_timed_out_call_is_cancelled_in_the_server_process_and_the_session_survives",
            "upstream/test_connection.py::test_a_call_outlives_its_timeout_while_progress_keeps_coming",
        ),
    },
    "Reliability: an HTTP server that restarts and forgets the session (404)": {
        "re-established; repeated only if read-only or idempotent": (
            "upstream/test_reliability.py::test_an_http_upstream_that_restarts_and_forgets_the_session_is_reinitialised",
            "upstream/test_reliability.py::test_a_call_that_is_not_idempotent_is_not_repeated_after_a_lost_session",
        ),
    },
    "Reliability: half an emoji from a server (a lone surrogate escape such as `\\ud83d`, as a JavaScript server that cut a string writes it), over stdio, streamable HTTP or SSE": {
        "read as U+FFFD at once, a whole pair kept, however the escape is cut; one warning per server": (
            "upstream/test_mending.py::test_half_an_emoji_from_an_http_server_is_read_as_a_replacement_character",
            "upstream/test_mending.py::test_half_an_emoji_from_a_stdio_server_is_read_as_a_replacement_character",
            "test_properties.py::test_a_servers_answer_is_mended_the_same_however_it_is_cut",
        ),
    },
    "Reliability: a result past 1 MiB from a streamable HTTP or SSE server": {
        "arrives whole; past 16 MiB the call fails (saying why over streamable HTTP) and the next is answered": (
            "test_load_and_limits.py::test_a_result_past_a_mebibyte_from_an_http_server_reaches_the_editor_whole",
            "upstream/test_sdk_seams.py::test_the_sdk_still_opens_sse_streams_through_the_function_whose_event_limit_the_gateway_raises",
        ),
    },
    "Reliability: an HTTP server answering without end (a JSON body past 16 MiB)": {
        "that call fails saying so, not read further; the session goes on": (
            "test_load_and_limits.py::test_a_json_answer_past_16_mib_from_an_http_server_fails_that_call_and_the_session_goes_on",
        ),
    },
    "Reliability: bytes that are not UTF-8 on a stdio server's stdout (a server writing Latin-1)": {
        "read as U+FFFD, the answer delivered": (
            "upstream/test_mending.py::test_bytes_that_are_not_utf8_from_a_stdio_server_are_read_as_a_replacement_character",
        ),
    },
    "Reliability: half an emoji from the model (streamed or not)": {
        "a split pair joined, a lone half U+FFFD, in text, reasoning and tool-call arguments": (
            "model/test_client.py::test_half_an_emoji_from_the_model_is_joined_across_reads_or_read_as_a_replacement_character",
            "model/test_client.py::test_half_an_emoji_in_a_whole_answer_is_read_as_a_replacement_character",
            "test_model_faults.py::test_half_an_emoji_from_the_model_reaches_the_client_as_a_replacement_character",
        ),
    },
    "Reliability: garbage on a server's stdout; a 10 MB result; 5,000 tools; a server slower than the ready wait or its start timeout": {
        "each survived": (
            "test_processes.py::test_garbage_on_a_servers_stdout_does_not_break_its_session",
            "test_load_and_limits.py::test_a_10_mb_result_reaches_the_editor_whole_and_the_model_cut",
            "test_load_and_limits.py::test_a_server_listing_5000_tools_is_served_whole",
            "upstream/test_reliability.py::test_a_slow_starting_server_joins_the_catalog_when_ready",
            "upstream/test_connection.py::test_a_server_slower_than_its_start_timeout_is_failed_with_that_reason",
        ),
    },
    "Reliability: the model endpoint down, slow or answering garbage": {
        "502, 504 or 502 with the reason": (
            "model/test_client.py::test_an_unreachable_endpoint_is_a_502_naming_it",
            "model/test_client.py::test_a_slow_endpoint_times_out_with_504_over_real_http",
            "model/test_client.py::test_garbage_from_the_endpoint_is_a_clear_error",
        ),
        "an answer past 64 MiB refused as it arrives": (
            "model/test_client.py::test_an_answer_past_64_mib_is_refused_not_kept_saying_what_to_check",
        ),
    },
    "Reliability: a client disconnecting mid-stream": {
        "the model request and the tool calls cancelled": (
            "test_chat_api.py::test_a_client_that_disconnects_cancels_the_model_request",
            "test_chat_api.py::test_a_client_that_disconnects_cancels_running_tool_calls",
        ),
    },
    "Reliability: SIGTERM / SIGINT": {
        "in-flight requests finish, every child gone, exit 0": (
            "test_serve.py::test_a_stop_signal_lets_the_call_in_flight_finish_then_ends_every_child",
        ),
    },
    "Reliability: the gateway killed with SIGKILL": {
        "its stdio servers die with it": (
            "test_serve.py::test_no_child_process_outlives_a_gateway_killed_with_sigkill",
        ),
    },
    "Reliability: load: 200 concurrent chat requests, 1,000 concurrent tool calls (two servers)": {
        "every answer correct and delivered to its own client; memory bounded": (
            "test_load_and_limits.py::test_concurrent_chats_each_get_their_own_answer",
            "test_load_and_limits.py::test_concurrent_tool_calls_are_all_answered_and_never_mixed_up",
        ),
    },
    "Docker": {
        "non-root under tini, the image's config, `files` serving /data (read from the Dockerfile)": (
            "test_config.py::test_the_docker_image_runs_as_a_user_under_tini_with_its_config_and_files_serving_data",
        ),
        "a token required for its public bind": (
            "test_config.py::test_the_docker_image_config_requires_a_token_for_its_public_bind",
            "test_security.py::test_the_docker_image_refuses_to_start_with_an_empty_token",
        ),
    },
    "Bundled servers (`servers/`): `clock`": {
        "now, convert, list_timezones": (
            "servers/test_bundled.py::test_clock_gives_the_time_in_a_zone_and_converts_between_zones",
        ),
        "wait reports progress every second": (
            "servers/test_bundled.py::test_clock_wait_reports_progress_every_second",
        ),
    },
    "Bundled servers (`servers/`): `files --root DIR`": {
        "read, list, find, search inside the root; sliced reads; escapes refused": (
            "servers/test_bundled.py::test_files_reads_lists_finds_and_searches_inside_the_root",
            "servers/test_bundled.py::test_files_refuses_oversized_reads",
            "servers/test_bundled.py::test_files_refuses_paths_that_escape_the_root",
        ),
    },
    "Bundled servers (`servers/`): `notes --store FILE`": {
        "add, list, search, delete; kept in one file; resources and a prompt": (
            "servers/test_bundled.py::test_notes_persist_in_their_file_and_are_served_as_resources",
        ),
    },
}
