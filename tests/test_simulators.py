"""The built-in simulators without HTTP: each operation called with a Call as it would arrive,
its answer read as the gateway writes it. What is checked comes from the gateways' documents
(docs/gateways.md), not from the clients."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sms_notify.sandbox import Call, Simulator, State
from sms_notify.sandbox.parts import parts
from sms_notify.sandbox.simulators.fastsms import FastSms
from sms_notify.sandbox.simulators.intellisms import IntelliSms
from sms_notify.sandbox.simulators.mymobileapi import MyMobileApi
from sms_notify.sandbox.simulators.server2sms import Server2Sms
from sms_notify.sandbox.simulators.sms24x import Sms24x
from sms_notify.sandbox.soap import SoapFault

KINDS: dict[str, type[Simulator[Any]]] = {
    "fastsms": FastSms, "intellisms": IntelliSms, "server2sms": Server2Sms, "sms24x": Sms24x,
    "mymobileapi": MyMobileApi,
}
CREDS = {"UserName": "sandbox", "Password": "sandbox"}


@pytest.fixture
def state() -> State:
    return State(KINDS, deliver_after=3600)


def inbox(state: State) -> list[tuple[str, str, str]]:
    return [(m.to, m.text, m.sender) for m in state.inbox]


# Parts, counted the networks' way and not with the client's code.

@pytest.mark.parametrize("text, expected", [
    ("", 1), ("x" * 160, 1), ("x" * 161, 2), ("x" * 306, 2), ("x" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),  # an extension character is two septets
    ("x" * 152 + "€" + "x" * 10, 2),  # ... and never split between two parts
    ("é" * 160, 1),  # in the GSM alphabet
    ("ü" * 161, 2), ("ê" * 70, 1), ("ê" * 71, 2), ("ê" * 134, 2), ("ê" * 135, 3),  # UCS-2
    ("😀" * 35, 1), ("😀" * 36, 2),  # two UTF-16 units each
])
def test_parts(text: str, expected: int) -> None:
    assert parts(text) == expected


# FastSMS (docs/gateways.md, FastSMS).

def fast(state: State, action: str, **fields: str) -> str:
    sim: FastSms = state.simulators["fastsms"]
    return sim.answer(Call(action, {"Token": "sandbox", "Action": action, **fields}))


def test_fastsms_send_answers_one_result_per_number_in_order(state: State) -> None:
    answer = fast(state, "Send", DestinationAddress="447700900123,12,447700900000,+447700900124",
                  SourceAddress="Alerts", Body="hi")
    first, *rest = answer.split(",")
    assert first.isdigit() and rest == ["-401", "-406", "-401"]
    assert inbox(state) == [("+447700900123", "hi", "Alerts")]


def test_fastsms_action_is_not_case_sensitive_but_parameter_names_are(state: State) -> None:
    assert fast(state, "checkCREDITS") == "1000.00"
    sim = state.simulators["fastsms"]
    assert sim.answer(Call("CheckCredits", {"token": "sandbox"})) == "-501"
    assert fast(state, "Send", destinationaddress="447700900123", SourceAddress="A",
                Body="x") == "-401"


@pytest.mark.parametrize("fields, code", [
    ({"Body": "hi"}, "-518"),  # SourceAddress is mandatory: no default sender
    ({"Body": "hi", "SourceAddress": " "}, "-518"),
    ({"Body": "hi", "SourceAddress": "TwelveLetter"}, "-402"),
    ({"Body": "hi", "SourceAddress": "12ab", "SourceTON": "1"}, "-403"),
    ({"Body": "hi", "SourceAddress": "Alerts", "SourceTON": "7"}, "-507"),
    ({"Body": " ", "SourceAddress": "Alerts"}, "-404"),
    ({"Body": "x" * 460, "SourceAddress": "Alerts"}, "-507"),
    ({"Body": "hi", "SourceAddress": "Alerts", "ValidityPeriod": "86401"}, "-405"),
    ({"Body": "hi", "SourceAddress": "Alerts", "ScheduleDate": "tomorrow"}, "-407"),
])
def test_fastsms_refuses_a_send(state: State, fields: dict[str, str], code: str) -> None:
    assert fast(state, "Send", DestinationAddress="447700900123", **fields) == code
    assert state.inbox == []


def test_fastsms_error_text_only_with_show_error_message(state: State) -> None:
    assert fast(state, "Send", DestinationAddress="447700900123", Body="x",
                ShowErrorMessage="0") == "-518\nBlank or Invalid Source Address"
    assert fast(state, "Dance") == "-502"


def test_fastsms_lists_groups_credits_and_status(state: State) -> None:
    assert fast(state, "Send", DestinationAddress="List", ListName="Oncall", SourceAddress="A",
                Body="all") == "1"
    bg = fast(state, "Send", DestinationAddress="Group", GroupName="Oncall", SourceAddress="A",
              Body="all", GetBGSendID="1")
    assert bg.isdigit() and bg != "1"
    assert fast(state, "Send", DestinationAddress="List", ListName="oncall", SourceAddress="A",
                Body="x") == "-516"
    assert fast(state, "Send", DestinationAddress="Group", GroupName="x", SourceAddress="A",
                Body="x") == "-520"
    assert fast(state, "CheckCredits") == "996.00"
    first = state.inbox[0].id
    assert fast(state, "CheckMessageStatus", MessageID=first) == "Sent"
    assert fast(state, "CheckMessageStatus", MessageID=first) == "Delivered"
    assert fast(state, "CheckMessageStatus", MessageID="1") == "-503"
    state.balances["fastsms"] = 1
    assert fast(state, "Send", DestinationAddress="447700900123,447700900124",
                SourceAddress="A", Body="x") == "-100"


def test_fastsms_bills_each_part(state: State) -> None:
    fast(state, "Send", DestinationAddress="447700900123", SourceAddress="A", Body="x" * 200)
    assert state.credits("fastsms") == 998 and state.inbox[0].parts == 2


# IntelliSoftware (docs/gateways.md, IntelliSoftware).

def intelli(state: State, operation: str = "sendmsg", **fields: str) -> str:
    sim: IntelliSms = state.simulators["intellisms"]
    return sim.answer(Call(operation, {"username": "sandbox", "password": "sandbox", **fields}))


def test_intellisms_one_line_per_number_one_id_duplicates_removed(state: State) -> None:
    assert re.fullmatch(r"ID:\d{20}", intelli(state, to="447700900123", text="hi"))
    lines = intelli(state, to="447700900123,07700900124,447700900000,447700900123",
                    text="hi").splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("447700900123,ID:") and lines[1].startswith("447700900124,ID:")
    assert lines[0].split(",")[1] == lines[1].split(",")[1]
    assert lines[2] == "447700900000,ERR:INVALID_NUMBER"


@pytest.mark.parametrize("fields, answer", [
    ({"to": "447700900123", "text": "x" * 161}, "ERR:INVALID_REQUEST"),  # maxconcat is 1
    ({"to": "447700900123"}, "ERR:NO_TEXT"),
    ({"text": "hi"}, "ERR:NO_TO"),
    ({"to": ",".join(f"4477009{i:05d}" for i in range(101)), "text": "x"},
     "ERR:TOO_MANY_NUMBERS"),
    ({"to": "447700900123", "type": "2", "hex": "zz"}, "ERR:PARAMETER_INVALID"),
    ({"to": "447700900123", "type": "2"}, "ERR:PARAMETER_MISSING"),
    ({"to": "447700900123", "text": "x", "type": "3"}, "ERR:INVALID_REQUEST"),
    ({"to": "447700900123", "text": "x", "from": "MuchTooLongName"}, "ERR:INVALID_REQUEST"),
])
def test_intellisms_refuses(state: State, fields: dict[str, str], answer: str) -> None:
    assert intelli(state, **fields) == answer


def test_intellisms_credentials_unicode_and_balance(state: State) -> None:
    sim = state.simulators["intellisms"]
    assert sim.answer(Call("getbalance", {"username": "sandbox"})) == "ERR:NO_PASSWORD"
    assert sim.answer(Call("getbalance", {"Username": "sandbox", "Password": "sandbox"})) == \
        "ERR:NO_USERNAME"
    assert sim.answer(Call("getbalance", {"username": "a", "password": "b"})) == \
        "ERR:LOGIN_INVALID"
    text = "Zürich ✓ 東京"
    assert intelli(state, to="447700900125", type="2", hex=text.encode("utf-16-be").hex(),
                   **{"from": "Alerts"}).startswith("ID:")
    assert inbox(state) == [("+447700900125", text, "Alerts")]
    assert intelli(state, "getbalance") == "BALANCE:999"


# server2sms (docs/gateways.md, server2sms: the ASPSMS status codes).

def s2s(state: State, method: str, **body: Any) -> dict[str, Any]:
    sim: Server2Sms = state.simulators["server2sms"]
    return sim.answer(Call(method, {**CREDS, **body}))


def test_server2sms_one_bad_number_refuses_the_whole_request(state: State) -> None:
    answer = s2s(state, "SendTextSMS", Originator="Alerts", MessageText="hi",
                 Recipients=["+447700900123:ref1", "+447700900000:ref2"])
    assert answer == {"StatusCode": "14", "StatusInfo": "Invalid MCC. Please check the number."}
    assert state.inbox == []
    assert s2s(state, "SendTextSMS", Originator="Alerts", MessageText="hi",
               Recipients=["+447700900123:ref1"]) == {"StatusCode": "1", "StatusInfo": "OK"}
    assert [(m.to, m.reference) for m in state.inbox] == [("+447700900123", "ref1")]


def test_server2sms_delivery_notifications(state: State) -> None:
    s2s(state, "SendTextSMS", MessageText="hi", Recipients=["+447700900123:ref1"])
    notes = s2s(state, "InquireDeliveryNotifications", TransactionReferenceNumbers="ref1;zz")
    by_ref = {n["TransactionReferenceNumber"]: n for n in notes["DeliveryNotifications"]}
    assert by_ref["ref1"]["DeliveryStatus"] == "1" and by_ref["ref1"]["SubmissionDate"]
    assert by_ref["zz"]["DeliveryStatus"] == "-1" and not by_ref["zz"]["SubmissionDate"]
    again = s2s(state, "InquireDeliveryNotifications", TransactionReferenceNumbers="ref1")
    assert again["DeliveryNotifications"][0]["DeliveryStatus"] == "0"
    assert s2s(state, "InquireDeliveryNotifications",
               TransactionReferenceNumbers=["ref1"])["StatusCode"] == "23"


@pytest.mark.parametrize("body, code", [
    ({"MessageText": " ", "Recipients": ["+447700900123"]}, "11"),
    ({"MessageText": "x" * 604, "Recipients": ["+447700900123"]}, "11"),
    ({"MessageText": "x", "Recipients": []}, "20"),
    ({"MessageText": "x", "Recipients": "+447700900123"}, "20"),  # a list, as documented
    ({"MessageText": "x", "Recipients": ["+447700900123"], "Originator": "MuchTooLongName"},
     "10"),
    ({"MessageText": "x", "Recipients": ["+447700900123"], "Originator": "Alerts Team"}, "10"),
    ({"MessageText": "x", "Recipients": ["+447700900123"], "Originator": "+41790000001"}, "30"),
    ({"MessageText": "x", "Recipients": ["+447700900123"], "DeferredDeliveryTime": "soon"},
     "22"),
])
def test_server2sms_refuses_a_send(state: State, body: dict[str, Any], code: str) -> None:
    assert s2s(state, "SendTextSMS", **body)["StatusCode"] == code
    assert state.inbox == []


def test_server2sms_a_numeric_originator_is_unlocked_by_the_code_it_is_texted(state: State
                                                                               ) -> None:
    send = {"MessageText": "x", "Recipients": ["+447700900123"], "Originator": "+41790000001"}
    assert s2s(state, "CheckOriginatorAuthorization", Originator="+41790000001")[
        "StatusCode"] == "30"
    assert s2s(state, "SendOriginatorUnlockCode", Originator="+41790000001")["StatusCode"] == "1"
    (texted,) = state.messages("server2sms", to="+41790000001")
    code = texted.text.rsplit(" ", 1)[1]
    assert s2s(state, "UnlockOriginator", Originator="+41790000001", UnlockCode="0")[
        "StatusCode"] == "30"
    assert s2s(state, "UnlockOriginator", Originator="+41790000001", UnlockCode=code)[
        "StatusCode"] == "1"
    assert s2s(state, "SendTextSMS", **send)["StatusCode"] == "1"
    assert s2s(state, "CheckOriginatorAuthorization", Originator="Alerts")["StatusCode"] == "28"


def test_server2sms_credentials_credits_tokens_and_vouchers(state: State) -> None:
    sim = state.simulators["server2sms"]
    assert sim.answer(Call("CheckCredits", {"UserName": "sandbox", "Password": "no"}))[
        "StatusCode"] == "3"
    assert sim.answer(Call("CheckCredits", {}))["StatusCode"] == "8"
    assert sim.answer(Call("VersionInfo", {}))["StatusCode"] == "1"
    assert s2s(state, "CheckCredits") == {"Credits": "1000", "StatusCode": "1",
                                          "StatusInfo": "OK"}
    assert s2s(state, "SendSimpleTextSMS", Recipients="+41790000001;+41790000002",
               MessageText="simple")["StatusCode"] == "1"
    assert s2s(state, "SendTokenSMS", Recipients="+447700900123", TokenReference="t1",
               MessageData="code <VERIFICATIONCODE>", VerificationCode="4242")["StatusCode"] == "1"
    assert state.inbox[-1].text == "code 4242"
    assert s2s(state, "VerifyToken", PhoneNumber="+447700900123", TokenReference="t1",
               VerificationCode="4242")["StatusCode"] == "1"
    assert s2s(state, "VerifyToken", PhoneNumber="+447700900123", TokenReference="t1",
               VerificationCode="1")["StatusCode"] == "37"
    made = s2s(state, "CreateVoucher", NumberOfVouchers="1", AmountCreditsPerVoucher="10")
    assert s2s(state, "CheckCredits")["Credits"] == "987"
    assert s2s(state, "RedeemVoucher", RedeemCode=made["VoucherCodes"][0])["StatusCode"] == "1"
    assert s2s(state, "CheckCredits")["Credits"] == "997"
    assert {"StatusCode": "3", "StatusInfo": "Authorization failed."} in s2s(
        state, "ListAllStatusCodes")["StatusCodes"]


# 24x (docs/gateways.md, 24x).

def x24(state: State, operation: str, **args: str) -> str:
    sim: Sms24x = state.simulators["sms24x"]
    return sim.answer(Call(operation, {**CREDS, **args}))


def test_sms24x_one_id_per_call_numbers_checked_only_on_the_way(state: State) -> None:
    message_id = x24(state, "SendFullSMS", Mobiles="07700900123,447700900000,12",
                     MessageFrom="Alerts", MessageToSend="hello", UserField="job-1")
    assert message_id.isdigit()
    assert [(m.to, m.reference) for m in state.messages("sms24x", id=message_id)] == [
        ("+447700900123", "job-1"), ("+447700900000", "job-1"), ("12", "job-1")]
    assert state.credits("sms24x") == 997  # every number taken is paid for
    report = x24(state, "GetDeliveryReport", MessageID=message_id)
    assert re.fullmatch(rf"({message_id},Sent,[\d/: ]+,job-1\|){{3}}", report)
    words = re.findall(r",(\w+),", x24(state, "GetDeliveryReport", MessageID=message_id))
    assert words == ["Delivered", "Failed", "Failed"]


@pytest.mark.parametrize("args, answer", [
    ({"MessageFrom": "", "MessageToSend": "x"}, "02 - No sender specified"),
    ({"MessageFrom": "Alerts Team", "MessageToSend": "x"},  # "11 characters alphanumeric"
     "02 - Sender must be 11 characters alphanumeric or 12 numeric"),
    ({"MessageFrom": "Alerts", "MessageToSend": ""}, "03 - No message specified"),
    ({"MessageFrom": "Alerts", "MessageToSend": "x", "DateTimeToSend": "2999-01-01T00:00:00"},
     "05 - Date to send greater than a year in advance."),
    ({"MessageFrom": "Alerts", "MessageToSend": "x", "Mobiles": ""}, "12 - Missing Parameter"),
])
def test_sms24x_refuses_a_send(state: State, args: dict[str, str], answer: str) -> None:
    assert x24(state, "SendFullSMS", **{"Mobiles": "447700900123", **args}) == answer
    assert state.inbox == []


def test_sms24x_an_unreadable_date_is_a_soap_fault(state: State) -> None:
    with pytest.raises(SoapFault, match="not a valid AllXsd value") as fault:
        x24(state, "SendFullSMS", Mobiles="447700900123", MessageFrom="A", MessageToSend="x",
            DateTimeToSend="tomorrow")
    assert fault.value.status == 400 and fault.value.sender


def test_sms24x_phonebook_send_answers_no_id(state: State) -> None:
    assert x24(state, "SendToPhonebook", PhonebookName="Oncall", MessageFrom="Alerts",
               MessageToSend="all hands") == "Message Sent"
    assert sorted(m.to for m in state.inbox) == ["+447700900201", "+447700900202"]
    assert x24(state, "SendToPhonebook", PhonebookName="Nobody", MessageFrom="A",
               MessageToSend="x") == "09 - The phonebook does not exist"
    assert x24(state, "CreateNewPhoneBook", PhonebookName="Empty") == "Phonebook created"
    assert x24(state, "SendToPhonebook", PhonebookName="Empty", MessageFrom="A",
               MessageToSend="x") == "08 - The phonebook has no entries"
    assert x24(state, "AddToPhonebook", PhonebookName="Empty", MobileNumber="07700900125") == \
        "Added"
    assert x24(state, "GetPhonebookNames") == "Oncall,2|Empty,1|"


def test_sms24x_credentials_and_login_lockout(state: State) -> None:
    sim = state.simulators["sms24x"]
    assert sim.answer(Call("CreditsAvailable", {"Username": "sandbox", "Password": "sandbox"})
                      ) == "01 - Username or password is missing."  # UserName, as clients send
    assert x24(state, "CreditsAvailable", Password="no") == "01 - Username or Password Incorrect"
    assert x24(state, "CheckLoginDetails") == "24001"
    for _ in range(3):
        assert x24(state, "CheckLoginDetails", Password="no") == "0"
    assert x24(state, "CheckLoginDetails") == "999999"


def test_sms24x_unavailable_is_a_server_fault(state: State) -> None:
    sim = state.simulators["sms24x"]
    with pytest.raises(SoapFault) as fault:
        sim.answer(Call("CreditsAvailable", CREDS, injected="soap:Server"))
    assert fault.value.status == 500 and not fault.value.sender


# MyMobileAPI (docs/gateways.md, MyMobileAPI).

SENDDATA = ("<senddata><settings><live>{live}</live><return_credits>True</return_credits>"
            "<return_entries_success_status>True</return_entries_success_status>"
            "<return_entries_failed_status>True</return_entries_failed_status>"
            "<default_senderid>Alerts</default_senderid><default_date>13/apr/2009</default_date>"
            "<default_time>10:00</default_time></settings>{entries}</senddata>")


def entry(number: str, customerid: str, text: str = "hello") -> str:
    return (f"<entries><numto>{number}</numto><customerid>{customerid}</customerid>"
            f"<data1>{text}</data1><type>SMS</type></entries>")


def mma(state: State, operation: str, data: str = "", **creds: str) -> str:
    sim: MyMobileApi = state.simulators["mymobileapi"]
    return sim.answer(Call(operation, {"Username": "sandbox", "Password": "sandbox",
                                       **creds, "Data": data}))


def test_mymobileapi_send_refused_entries_and_the_change_feed(state: State) -> None:
    answer = mma(state, "Send_STR_STR", SENDDATA.format(live="True", entries=entry(
        "27821234567", "c1") + entry("0821234568", "c2", "a &amp; b") + entry("27820000000", "c3")))
    assert "<result>True</result>" in answer
    assert "<entries_success><numto>27821234567</numto><customerid>c1</customerid>" in answer
    assert ("<entries_failed><numto>27820000000</numto><customerid>c3</customerid>"
            "<reason>numto invalid</reason></entries_failed>") in answer
    assert re.search(r"<send_info><eventid>\d+</eventid><credits>998</credits></send_info>", answer)
    assert inbox(state) == [("+27821234567", "hello", "Alerts"), ("+27821234568", "a & b", "Alerts")]
    cols = "<cols_returned>sentid,customerid,status</cols_returned>"
    sent = mma(state, "Sent_STR_STR", f"<sent><settings><id>0</id>{cols}</settings></sent>")
    rows = re.findall(r"<data><changeid>(\d+)</changeid>.*?<customerid>(\w+)</customerid>"
                      r"<status>(\w+)</status></data>", sent)
    assert [(c, s) for _, c, s in rows] == [("c1", "UNKNOWN"), ("c2", "UNKNOWN")]
    later = mma(state, "Sent_STR_STR", f"<sent><settings><id>{rows[-1][0]}</id>{cols}"
                                       "</settings></sent>")
    assert later.count("<status>DELIVRD</status>") == 2
    bare = mma(state, "Sent_STR_STR", "<sent><settings><id>0</id></settings></sent>")
    assert "<data><changeid>3</changeid></data>" in bare, "changeid only, by default"
    assert "<credits>998</credits>" in mma(state, "Credits_STR")


def test_mymobileapi_errors_are_its_own_words(state: State) -> None:
    assert "<error>Access denied</error>" in mma(state, "Credits_STR", Password="no")
    test_mode = mma(state, "Send_STR_STR", SENDDATA.format(live="False", entries=entry(
        "27821234567", "c1")))
    assert "<result>True</result>" in test_mode and state.inbox == []
    nothing = mma(state, "Send_STR_STR", SENDDATA.format(live="True", entries=entry(
        "27821234567", "c1", " ")))
    assert "<reason>data1 invalid</reason>" in nothing
    assert "<result>False</result><error>No data to send</error>" in nothing
    no_date = mma(state, "Send_STR_STR", "<senddata><settings/>" + entry("27821234567", "c")
                  + "</senddata>")
    assert "<result>False</result>" in no_date and "default_date" in no_date
    dtd = mma(state, "Send_STR_STR", '<!DOCTYPE x [<!ENTITY a "b">]><senddata/>')
    assert "<result>False</result>" in dtd and "DTD is prohibited" in dtd
    no_id = mma(state, "Sent_STR_STR", "<sent><settings/></sent>")
    assert "<result>False</result>" in no_id and "id is mandatory" in no_id
    state.balances["mymobileapi"] = 0
    broke = mma(state, "Send_STR_STR", SENDDATA.format(live="True", entries=entry(
        "27821234567", "c1")))
    assert "<error>Insufficient funds</error>" in broke


def test_every_reset_forgets_a_gateways_own_data(state: State) -> None:
    x24(state, "CreateNewPhoneBook", PhonebookName="Temp")
    s2s(state, "CreateVoucher", NumberOfVouchers="1", AmountCreditsPerVoucher="1")
    state.reset()
    assert x24(state, "GetPhonebookNames") == "Oncall,2|"
    assert s2s(state, "GetVoucherTransactions")["vouchers"] == []
    assert state.balances == dict.fromkeys(KINDS, 1000.0)


# Closing the loop: what the gateways send by themselves, and replies (docs/sandbox.md).

def test_server2sms_calls_a_sends_notification_url_once_its_fate_is_final() -> None:
    state = State(KINDS, deliver_after=0)
    sim = state.simulators["server2sms"]
    url = "http://rx/receipts/backup?auth=s&TRN=<TRN>&DST=<DST>&RSN=<RSN>&RCPNT=<RCPNT>"
    assert sim.answer(Call("SendTextSMS", {**CREDS, "Recipients": [
        "+447700900123:r1", "+447700900001:r2", "+447700900002:r3"], "MessageText": "hi",
        "URLDeliveryNotification": url + "&ok=1", "URLNonDeliveryNotification": url}))[
        "StatusCode"] == "1"
    assert [(o.method, o.url) for o in sim.due()] == [
        ("GET", "http://rx/receipts/backup?auth=s&TRN=r1&DST=0&RSN=000&RCPNT=447700900123&ok=1"),
        ("GET", "http://rx/receipts/backup?auth=s&TRN=r2&DST=2&RSN=108&RCPNT=447700900001"),
        ("GET", "http://rx/receipts/backup?auth=s&TRN=r3&DST=2&RSN=108&RCPNT=447700900002")]
    assert sim.due() == []
    sim.answer(Call("SendTextSMS", {**CREDS, "Recipients": ["+447700900124:r4"],
                                    "MessageText": "no URL"}))
    assert sim.due() == []


def test_server2sms_waits_for_the_fate_of_a_text(state: State) -> None:
    sim = state.simulators["server2sms"]
    sim.answer(Call("SendTextSMS", {**CREDS, "Recipients": ["+447700900123:r1"],
                                    "MessageText": "hi", "URLDeliveryNotification": "http://rx/"}))
    assert sim.due() == []  # still buffered (deliver_after is an hour here)


def test_fastsms_forwards_a_reply_to_the_vmns_url(state: State) -> None:
    sim = state.simulators["fastsms"]
    with pytest.raises(ValueError, match="forwards nowhere yet"):
        sim.reply("+447700900123", "ACK")
    with pytest.raises(ValueError, match="GET or POST"):
        sim.forwarding({"url": "http://rx/inbound/primary", "method": "PUT"})
    assert sim.forwarding({"url": "http://rx/inbound/primary", "method": "get", "auth": "s"}) == {
        "vmn": "447700900999", "method": "GET"}
    made, (out,) = sim.reply("+447700900123", "ACK 30m")
    assert (out.method, out.url, out.what) == ("GET", "http://rx/inbound/primary",
                                               "forwarded reply")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", out.params.pop("receivedts"))
    assert out.params == {"source": "447700900123", "dest": "447700900999", "msg": "ACK 30m",
                          "id": "4100001", "auth": "s"}
    assert "auth" not in made
    state.reset()
    with pytest.raises(ValueError, match="forwards nowhere yet"):
        sim.reply("+447700900123", "ACK")


def test_mymobileapi_keeps_replies_in_a_feed_after_a_replyid(state: State) -> None:
    sim = state.simulators["mymobileapi"]
    with pytest.raises(ValueError, match="no text was sent to"):
        sim.reply("27821234567", "ACK")
    mma(state, "Send_STR_STR", SENDDATA.format(live="True", entries=entry("27821234567", "c1")))
    made, outgoing = sim.reply("+27821234567", "ACK")
    assert outgoing == [] and (made["replyid"], made["sentcustomerid"]) == (1, "c1")
    sim.reply("0821234567", "ack 2h")
    cols = "<cols_returned>numfrom,receiveddata,sentcustomerid</cols_returned>"
    feed = mma(state, "Reply_STR_STR", f"<reply><settings><id>1</id>{cols}</settings></reply>")
    assert re.findall(r"<data>(.*?)</data>", feed) == [
        "<replyid>2</replyid><numfrom>27821234567</numfrom><receiveddata>ack 2h</receiveddata>"
        "<sentcustomerid>c1</sentcustomerid>"]
    assert "id is mandatory" in mma(state, "Reply_STR_STR", "<reply><settings/></reply>")


@pytest.mark.parametrize(("scheme", "words"), [
    ("fastsms", "Undeliverable"), ("sms24x", "Failed"), ("mymobileapi", "EXPIRED")])
def test_a_number_ending_0002_expires_where_the_gateway_can_say_so(scheme: str,
                                                                   words: str) -> None:
    state = State(KINDS, deliver_after=0)
    message = state.simulators[scheme].accept("+447700900002", "hi", "Alerts", "1")
    assert message.status(0) == "expired"
    from sms_notify.sandbox.simulators import fastsms, mymobileapi, sms24x

    table = {"fastsms": fastsms, "sms24x": sms24x, "mymobileapi": mymobileapi}[scheme]
    assert table.STATUS_WORDS["expired"] == words


def test_a_gateway_without_replies_says_so(state: State) -> None:
    from sms_notify.sandbox.simulator import Unsupported

    with pytest.raises(Unsupported, match="intellisms takes no replies"):
        state.simulators["intellisms"].reply("+447700900123", "ACK")
    with pytest.raises(Unsupported, match="server2sms forwards no replies"):
        state.simulators["server2sms"].forwarding({"url": "http://rx/"})
