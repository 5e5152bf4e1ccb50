"""Seed data for 爱家: real areas, the facility catalogue and (in development) demo listings.

Everything here is idempotent, so ``manage.py seed`` can run at every start-up:

* :func:`seed_areas` upserts the country's districts from the ``cpca`` package's
  ``resources/adcodes.csv`` into ``areas`` (id = 6-digit national adcode).
* :func:`seed_facilities` upserts :data:`FACILITIES`, the 23-item catalogue of the
  original 爱家, into ``facilities``.
* :func:`seed_demo` creates a demo landlord and :data:`DEMO_LISTINGS` (42 online
  listings with generated photos) unless that landlord already has listings. Only
  the caller decides whether to run it (development, or ``manage.py seed --demo``).

Money is stored in fen (1 yuan = 100 fen); the demo table below is written in yuan
because that is how people think about prices, and converted on insert.
"""

from __future__ import annotations

import asyncio
import csv
import random
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator, NamedTuple

import bcrypt
from tqdm import tqdm

from models.areas import FEATURED_CITIES  # noqa: F401  (the demo listings spread over these)
from models.db import Database
from services.images import ImageStore, StoredImage, make_demo_photo

# ---------------------------------------------------------------------------
# Areas
# ---------------------------------------------------------------------------

# Province-level municipalities: their districts' "city" is the municipality itself.
MUNICIPALITIES = {"11", "12", "31", "50"}
# Placeholder rows of the adcode table that are not places a visitor can pick:
# "市辖区" / "县" group the districts of a city; the other two group county-level
# cities governed directly by their province (仙桃市, 济源市, 石河子市, …).
_PLACEHOLDER_NAMES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}

AREA_UPSERT = (
    "INSERT INTO areas (id, name, city, province) VALUES (%s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), city = VALUES(city), province = VALUES(province)"
)
AREA_BATCH = 500


class AreaRow(NamedTuple):
    """One row of ``areas``: id is the 6-digit adcode, the rest are Chinese names."""

    id: int
    name: str
    city: str
    province: str


def adcodes_csv() -> Path:
    """Where the ``cpca`` package keeps its adcode table (adcode,name,longitude,latitude)."""
    return Path(str(resources.files("cpca").joinpath("resources", "adcodes.csv")))


def read_adcodes(path: Path | None = None) -> dict[str, str]:
    """{6-digit adcode: name} for every row of cpca's adcodes.csv.

    The file's adcodes have 12 digits (down to township level); the rows cpca
    ships all end in six zeros, and a township row, should one appear, is skipped.
    """
    codes: dict[str, str] = {}
    with open(path or adcodes_csv(), encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            code = row["adcode"].strip()
            if len(code) != 12 or not code.isdigit() or code[6:] != "000000":
                continue
            codes[code[:6]] = row["name"].strip()
    return codes


def area_rows(codes: dict[str, str] | None = None) -> list[AreaRow]:
    """The rows of ``areas`` derived from the adcode table, sorted by id.

    * Every district-level code (its 6-digit form does not end in ``00``) except the
      ``市辖区`` placeholders, which name no place.
    * province = the name at ``XX0000``; city = the name at ``XXXX00``, except that
      a municipality's districts get the municipality (``北京市``, not ``市辖区``) and
      county-level cities governed by their province get their own name
      (``仙桃市`` under ``省直辖县级行政区划``).
    * A prefecture-level city that has no district of its own (东莞市, 中山市, 儋州市,
      嘉峪关市) is itself one row, so every city of the country can be picked.
    """
    codes = read_adcodes() if codes is None else codes
    rows: dict[str, AreaRow] = {}
    districts_of: dict[str, int] = {}
    for code, name in codes.items():
        if code.endswith("00") or name in _PLACEHOLDER_NAMES:
            continue
        province = codes.get(code[:2] + "0000")
        if province is None:
            continue
        if code[:2] in MUNICIPALITIES:
            city = province
        else:
            city = codes.get(code[:4] + "00", "")
            if not city or city in _PLACEHOLDER_NAMES:
                city = name
        rows[code] = AreaRow(int(code), name, city, province)
        districts_of[code[:4]] = districts_of.get(code[:4], 0) + 1
    for code, name in codes.items():
        if (code.endswith("00") and not code.endswith("0000") and code[:2] not in MUNICIPALITIES
                and name not in _PLACEHOLDER_NAMES and not districts_of.get(code[:4])):
            province = codes.get(code[:2] + "0000")
            if province:
                rows[code] = AreaRow(int(code), name, name, province)
    return [rows[c] for c in sorted(rows)]


def _batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def seed_areas(db: Database, *, progress: bool = True) -> int:
    """Upsert every district of the country into ``areas``; returns how many rows that is.

    Source: cpca's adcodes.csv (see :func:`area_rows`). Batched ``executemany`` of
    ``INSERT … ON DUPLICATE KEY UPDATE``, so a second run changes nothing and a
    corrected name in a newer cpca is picked up. *progress* shows a tqdm bar on a
    terminal.
    """
    rows = area_rows()
    with tqdm(total=len(rows), desc="areas", unit="row", disable=None if progress else True) as bar:
        for batch in _batches(rows, AREA_BATCH):
            await db.executemany(AREA_UPSERT, batch)
            bar.update(len(batch))
    return len(rows)


# ---------------------------------------------------------------------------
# Facilities
# ---------------------------------------------------------------------------

class Facility(NamedTuple):
    """One facility: id (1..23, stable), Chinese name, Bootstrap Icons class."""

    id: int
    name: str
    icon: str


# The catalogue of the original 爱家, in its order; ids are referenced by listings
# and search URLs (?facility=3), so never renumber. Icons are classes of the
# vendored bootstrap-icons (static/vendor/bootstrap-icons), rendered as <i class="bi {icon}">.
FACILITIES: tuple[Facility, ...] = tuple(Facility(i, name, icon) for i, (name, icon) in enumerate((
    ("无线网络", "bi-wifi"),
    ("热水淋浴", "bi-droplet-half"),
    ("空调", "bi-snow"),
    ("暖气", "bi-thermometer-sun"),
    ("允许吸烟", "bi-fire"),
    ("饮水设备", "bi-cup-straw"),
    ("牙具", "bi-brush"),
    ("香皂", "bi-stars"),
    ("拖鞋", "bi-person-walking"),
    ("手纸", "bi-receipt"),
    ("毛巾", "bi-layers"),
    ("沐浴露", "bi-moisture"),
    ("冰箱", "bi-thermometer-snow"),
    ("洗衣机", "bi-record-circle"),
    ("电梯", "bi-arrow-down-up"),
    ("允许做饭", "bi-egg-fried"),
    ("允许带宠物", "bi-heart"),
    ("允许聚会", "bi-balloon"),
    ("门禁系统", "bi-shield-lock"),
    ("停车位", "bi-p-square"),
    ("有线网络", "bi-ethernet"),
    ("电视", "bi-tv"),
    ("浴缸", "bi-water"),
), start=1))

FACILITY_UPSERT = (
    "INSERT INTO facilities (id, name, icon) VALUES (%s, %s, %s) "
    "ON DUPLICATE KEY UPDATE name = VALUES(name), icon = VALUES(icon)"
)


async def seed_facilities(db: Database) -> int:
    """Upsert :data:`FACILITIES` into ``facilities``; returns 23."""
    await db.executemany(FACILITY_UPSERT, FACILITIES)
    return len(FACILITIES)


# ---------------------------------------------------------------------------
# Demo listings (development only)
# ---------------------------------------------------------------------------

DEMO_MOBILE = "13800000000"
DEMO_NAME = "演示房东"
DEMO_PASSWORD = "Demo#2024home"
# A verified demo identity; the id card (区划 110105, born 1949-12-31) passes the
# GB 11643-1999 check digit.
DEMO_REAL_NAME = "张演示"
DEMO_ID_CARD = "11010519491231002X"
DEMO_BCRYPT_ROUNDS = 12
DEMO_PHOTOS_PER_LISTING = 3
DEMO_SPREAD_DAYS = 60


@dataclass(frozen=True)
class DemoListing:
    """One demo listing. *price_yuan* is per night in yuan (stored ×100 as fen)."""

    area_id: int
    title: str
    address: str
    unit: str
    room_count: int
    acreage: int  # m²
    capacity: int
    beds: str
    price_yuan: int
    highlight: str


_L = DemoListing  # keeps the table below readable


# Seven listings per featured city; area_id is the district's adcode in cpca's table.
DEMO_LISTINGS: tuple[DemoListing, ...] = (
    # 北京市
    _L(110105, "三里屯太古里旁 · 北欧风一居室", "朝阳区工人体育场北路8号院3号楼", "一室一厅", 1, 55, 2,
       "1.8米双人床1张", 468, "步行5分钟到三里屯太古里，楼下是使馆区安静的林荫道，夜里也不吵"),
    _L(110101, "南锣鼓巷胡同四合院 · 独立小院", "东城区南锣鼓巷菊儿胡同12号", "两室一厅", 2, 80, 4,
       "1.8米双人床1张，1.5米双人床1张", 1088, "老北京四合院改造，院里有一棵六十年的枣树，步行可到什刹海和鼓楼"),
    _L(110102, "什刹海后海湖景房 · 推窗见湖", "西城区后海南沿22号", "一室一厅", 1, 48, 2,
       "1.8米双人床1张", 688, "卧室窗外就是后海，清晨可以沿湖跑步，傍晚去银锭桥看西山落日"),
    _L(110108, "五道口地铁站 · 清华北大旁温馨两居", "海淀区成府路华清嘉园15号楼", "两室一厅", 2, 78, 4,
       "1.5米双人床2张", 398, "出门就是地铁13号线五道口站，步行可到清华东门，适合访学和考研的朋友"),
    _L(110106, "北京南站旁 · 高铁出行便捷大床房", "丰台区马家堡东路106号", "一室", 1, 35, 2,
       "1.5米双人床1张", 228, "步行10分钟到北京南站，地铁4号线直达西单、动物园，赶早班高铁很从容"),
    _L(110112, "环球影城度假区 · 亲子家庭三居", "通州区九棵树东路158号", "三室两厅", 3, 120, 6,
       "1.8米双人床2张，1.2米单人床2张", 888, "开车15分钟到北京环球影城，儿童房配了绘本和小夜灯，适合一家人出游"),
    _L(110116, "雁栖湖畔 · 山景独栋民宿", "怀柔区雁栖镇柏崖厂村68号", "四室两厅", 4, 220, 8,
       "1.8米双人床3张，1.5米双人床1张", 1288, "独栋带院子和烧烤台，背靠燕山，离慕田峪长城半小时车程"),
    # 上海市
    _L(310101, "外滩观景 · 南京东路老洋房", "黄浦区四川中路261弄5号", "一室一厅", 1, 50, 2,
       "1.8米双人床1张", 788, "上世纪三十年代的老洋房，步行5分钟到外滩，晚上可以看万国建筑群的灯光"),
    _L(310104, "武康路梧桐树下 · 法式复古公寓", "徐汇区武康路100弄2号", "一室一厅", 1, 62, 2,
       "1.8米双人床1张", 698, "梧桐区里的老公寓，木地板和拱形窗都保留了原样，楼下就是咖啡馆"),
    _L(310106, "静安寺商圈 · 简约现代两居", "静安区愚园路188弄8号", "两室一厅", 2, 75, 4,
       "1.8米双人床1张，1.5米双人床1张", 588, "地铁2号线、7号线静安寺站步行6分钟，久光百货和静安公园都在附近"),
    _L(310115, "陆家嘴江景高层 · 落地窗看东方明珠", "浦东新区银城中路68号", "一室一厅", 1, 58, 2,
       "1.8米双人床1张", 1188, "32层的落地窗正对东方明珠和黄浦江，夜景非常震撼"),
    _L(310105, "虹桥机场地铁10号线 · 商务大床房", "长宁区仙霞路318号", "一室", 1, 32, 2,
       "1.5米双人床1张", 268, "地铁10号线直达虹桥机场，适合出差和转机的朋友，房间配有办公桌"),
    _L(310112, "七宝古镇旁 · 江南风情两居", "闵行区七宝镇青年路99弄6号", "两室一厅", 2, 85, 4,
       "1.5米双人床2张", 368, "步行可到七宝老街，白墙黛瓦的小桥流水，吃一碗汤团再回家"),
    _L(310151, "崇明东滩 · 田园农家小院", "崇明区陈家镇裕安村1288号", "三室一厅", 3, 140, 6,
       "1.8米双人床2张，1.2米单人床2张", 528, "院子外是一片稻田，骑车20分钟到东滩湿地公园看候鸟"),
    # 广州市
    _L(440106, "珠江新城 · 广州塔景观公寓", "天河区花城大道85号", "一室一厅", 1, 52, 2,
       "1.8米双人床1张", 598, "阳台正对广州塔，楼下就是花城广场，地铁3号线、5号线都很近"),
    _L(440104, "北京路步行街 · 岭南骑楼小屋", "越秀区北京路238号", "一室", 1, 30, 2,
       "1.5米双人床1张", 238, "住在骑楼里，楼下就是北京路步行街，早茶店和糖水铺走几步就到"),
    _L(440105, "广交会琶洲展馆旁 · 展会出行两居", "海珠区新港东路1000号", "两室一厅", 2, 70, 4,
       "1.5米双人床2张", 458, "步行10分钟到琶洲会展中心，广交会期间是参展商的热门选择"),
    _L(440103, "沙面岛欧陆风情 · 老西关大屋", "荔湾区沙面北街45号", "两室一厅", 2, 90, 4,
       "1.8米双人床1张，1.5米双人床1张", 728, "沙面岛上的百年建筑，满街的欧式老房子和大榕树，很适合拍照"),
    _L(440113, "长隆野生动物世界 · 亲子主题房", "番禺区汉溪大道东290号", "两室一厅", 2, 88, 5,
       "1.8米双人床1张，儿童上下铺1张", 658, "开车10分钟到长隆野生动物世界和欢乐世界，儿童房是森林动物主题"),
    _L(440111, "白云山脚下 · 安静森系一居", "白云区广园中路338号", "一室一厅", 1, 45, 2,
       "1.5米双人床1张", 288, "出门就能上白云山，早上爬山看日出，下山喝一碗艇仔粥"),
    _L(440117, "从化温泉 · 带私汤的山间别墅", "从化区温泉镇温泉东路28号", "三室两厅", 3, 180, 6,
       "1.8米双人床2张，1.5米双人床1张", 1188, "别墅自带引入天然温泉的私汤池，四周是荔枝林，冬天泡汤最舒服"),
    # 深圳市
    _L(440305, "深圳湾公园 · 海景大平层", "南山区科苑南路2666号", "三室两厅", 3, 130, 6,
       "1.8米双人床2张，1.5米双人床1张", 1088, "客厅望得见深圳湾和对岸的香港，楼下就是滨海步道，可以骑行看日落"),
    _L(440305, "科技园 · 腾讯滨海大厦旁精品公寓", "南山区科技南十二路18号", "一室", 1, 38, 2,
       "1.5米双人床1张", 358, "步行到科技园各大公司都在10分钟内，适合来面试和出差的朋友"),
    _L(440304, "会展中心 · 福田CBD商务两居", "福田区福华三路88号", "两室一厅", 2, 72, 4,
       "1.8米双人床1张，1.5米双人床1张", 568, "楼下就是会展中心站，去福田口岸过关香港只要两站地铁"),
    _L(440303, "罗湖口岸 · 购物方便的温馨小屋", "罗湖区人民南路3002号", "一室一厅", 1, 42, 2,
       "1.5米双人床1张", 268, "步行到罗湖口岸和东门老街，逛街吃宵夜都很方便"),
    _L(440308, "大梅沙海滨 · 推窗见海度假屋", "盐田区盐葵路大梅沙段9号", "两室一厅", 2, 86, 4,
       "1.8米双人床1张，1.5米双人床1张", 888, "推开窗就是大梅沙海滩，走两分钟就能踩到沙子，夏天非常抢手"),
    _L(440306, "宝安机场附近 · 早班机友好大床房", "宝安区航城街道航站四路1号", "一室", 1, 30, 2,
       "1.5米双人床1张", 198, "打车10分钟到宝安机场T3航站楼，赶早班机可以多睡一个小时"),
    _L(440307, "大运中心 · 东部华侨城出行三居", "龙岗区龙翔大道7188号", "三室一厅", 3, 105, 6,
       "1.8米双人床2张，1.2米单人床2张", 488, "地铁3号线大运站旁，去东部华侨城和较场尾都很方便，适合朋友结伴"),
    # 成都市
    _L(510104, "春熙路太古里 · 高空夜景公寓", "锦江区红星路三段1号", "一室一厅", 1, 50, 2,
       "1.8米双人床1张", 428, "步行到春熙路和远洋太古里，晚上可以在阳台看整条街的灯光"),
    _L(510105, "宽窄巷子 · 川西院落民宿", "青羊区长顺上街128号", "两室一厅", 2, 85, 4,
       "1.8米双人床1张，1.5米双人床1张", 588, "青砖灰瓦的川西小院，院里摆着竹椅和盖碗茶，步行5分钟到宽窄巷子"),
    _L(510107, "锦里武侯祠 · 古色古香一居", "武侯区武侯祠大街231号", "一室一厅", 1, 46, 2,
       "1.5米双人床1张", 318, "出门就是锦里古街和武侯祠，晚上去玉林路的小酒馆坐一坐"),
    _L(510106, "成都火车站北 · 旅途中转舒适房", "金牛区二环路北二段18号", "一室", 1, 28, 2,
       "1.5米双人床1张", 188, "去成都站和火车北站都只要一站地铁，适合去九寨沟、峨眉山前的中转"),
    _L(510108, "大熊猫繁育研究基地 · 熊猫主题亲子房", "成华区熊猫大道1375号", "两室一厅", 2, 80, 5,
       "1.8米双人床1张，儿童床1张", 468, "开车10分钟到大熊猫基地，早上7点半开园时人最少，熊猫也最活跃"),
    _L(510116, "双流机场 · 接送机便利两居", "双流区西航港大道中二段66号", "两室一厅", 2, 75, 4,
       "1.5米双人床2张", 328, "离双流机场T2航站楼约15分钟车程，楼下有24小时便利店"),
    _L(510181, "青城山下 · 山林茶舍别院", "都江堰市青城山镇泰安古镇18号", "三室一厅", 3, 150, 6,
       "1.8米双人床2张，1.5米双人床1张", 788, "在青城后山脚下，推门就是竹林和溪水，夏天比市区凉快好几度"),
    # 杭州市
    _L(330106, "西湖断桥 · 湖畔茶香小院", "西湖区北山街84号", "两室一厅", 2, 90, 4,
       "1.8米双人床1张，1.5米双人床1张", 1288, "步行3分钟到断桥残雪，清晨的白堤几乎没有游客"),
    _L(330106, "龙井村茶园 · 山景独立民宿", "西湖区龙井路双峰村56号", "三室一厅", 3, 130, 6,
       "1.8米双人床2张，1.2米单人床2张", 988, "房子就在茶园中间，春天可以跟着茶农上山采明前龙井"),
    _L(330102, "河坊街清河坊 · 南宋御街旁一居", "上城区河坊街218号", "一室一厅", 1, 45, 2,
       "1.5米双人床1张", 368, "楼下就是河坊街和南宋御街，步行15分钟到吴山广场和西湖"),
    _L(330108, "奥体中心 · 钱塘江景公寓", "滨江区江汉路1785号", "一室一厅", 1, 60, 2,
       "1.8米双人床1张", 458, "俯瞰钱塘江和奥体中心，看演唱会、比赛散场步行就能回家"),
    _L(330105, "大运河畔 · 桥西历史街区老宅", "拱墅区小河路桥弄街25号", "两室一厅", 2, 78, 4,
       "1.5米双人床2张", 398, "京杭大运河边的老宅，傍晚去拱宸桥散步，坐水上巴士去武林门"),
    _L(330110, "未来科技城 · 梦想小镇极简公寓", "余杭区文一西路1818号", "一室", 1, 35, 2,
       "1.5米双人床1张", 238, "步行到梦想小镇和阿里巴巴西溪园区，适合出差和面试"),
    _L(330109, "萧山国际机场 · 亚运场馆旁三居", "萧山区市心北路3号", "三室两厅", 3, 118, 6,
       "1.8米双人床2张，1.2米单人床2张", 528, "离萧山机场20分钟车程，旁边就是杭州奥体博览城"),
)

_DESCRIPTION_POOL = (
    "每次入住前都做专业保洁，床品一客一换，毛巾浴巾高温消毒。",
    "小区24小时安保，电梯直达，拖着行李箱也很方便。",
    "附近有便利店、菜市场和几家地道的本地小馆，生活气息很浓。",
    "自助入住，门上是密码锁，凌晨到达也不用等人。",
    "房东就住在附近，有任何问题发消息很快就能回复。",
    "客厅有投影和蓝牙音箱，晚上可以窝在沙发里看电影。",
    "厨房锅碗瓢盆齐全，想自己做饭的话楼下就能买到新鲜食材。",
    "窗户是双层隔音玻璃，临街也能睡个好觉。",
    "床垫是偏硬的乳胶床垫，枕头有高低两种可选。",
)
_HOUSE_RULES = "入住时间14:00以后，退房时间12:00以前；请勿在室内大声喧哗，爱护房屋设施。"
_DEPOSITS_YUAN = (0, 200, 300, 500, 1000)


def demo_description(listing: DemoListing, rng: random.Random) -> str:
    """A few paragraphs of realistic description: the listing's highlight, two
    general points and the house rules."""
    extra = rng.sample(_DESCRIPTION_POOL, 2)
    return "\n\n".join([listing.highlight + "。", "".join(extra), _HOUSE_RULES])


def _demo_photo_seeds(index: int) -> list[int]:
    """Stable seeds for the generated photos of listing *index* (0-based)."""
    return [index * DEMO_PHOTOS_PER_LISTING + k + 1 for k in range(DEMO_PHOTOS_PER_LISTING)]


async def _ensure_demo_landlord(db: Database) -> int:
    """The demo landlord's user id, creating the account when it is missing."""
    user_id = await db.scalar("SELECT id FROM users WHERE mobile = %s", DEMO_MOBILE)
    if user_id is not None:
        return user_id
    loop = asyncio.get_running_loop()
    salt = bcrypt.gensalt(rounds=DEMO_BCRYPT_ROUNDS)
    # bcrypt at cost 12 is a quarter of a second of CPU: keep it off the event loop.
    hashed = await loop.run_in_executor(None, bcrypt.hashpw, DEMO_PASSWORD.encode(), salt)
    await db.execute(
        "INSERT IGNORE INTO users (mobile, name, password_hash, real_name, id_card) "
        "VALUES (%s, %s, %s, %s, %s)",
        DEMO_MOBILE, DEMO_NAME, hashed.decode(), DEMO_REAL_NAME, DEMO_ID_CARD)
    # Re-read rather than trust lastrowid: another process may have won the race.
    user_id = await db.scalar("SELECT id FROM users WHERE mobile = %s", DEMO_MOBILE)
    if user_id is None:
        raise RuntimeError(f"could not create the demo landlord (is the name {DEMO_NAME!r} taken?)")
    return user_id


async def seed_demo(db: Database, image_store: ImageStore, *, progress: bool = True) -> int:
    """Create the demo landlord and its 42 online listings; returns how many listings were made.

    Does nothing (returns 0) when the demo landlord (mobile 13800000000, password
    ``Demo#2024home``) already has any listing, so it is safe at every start-up.
    Needs :func:`seed_areas` and :func:`seed_facilities` first (foreign keys).

    Each listing gets 3–8 facilities, a nightly price of 188–1288 yuan stored in
    fen, and :data:`DEMO_PHOTOS_PER_LISTING` photos made by
    ``services.images.make_demo_photo`` and stored through *image_store*
    (``await image_store.save(data) -> StoredImage(key, width, height)``); the first
    photo is the cover. created_at is spread over the last 60 days so that
    "latest" ordering means something. Each listing is written in one transaction.
    Choices are drawn from a fixed-seed RNG, so every checkout gets the same demo.
    """
    missing = await _missing_demo_areas(db)
    if missing:
        raise RuntimeError(f"areas {missing} are missing: run seed_areas() before seed_demo()")
    owner_id = await _ensure_demo_landlord(db)
    if await db.scalar("SELECT COUNT(*) FROM houses WHERE owner_id = %s", owner_id):
        return 0

    rng = random.Random(20240601)
    count = len(DEMO_LISTINGS)
    # Minutes before now at which each listing was "published": evenly spread over
    # the last 60 days, in shuffled order so that the newest are not all one city.
    ages = [int((DEMO_SPREAD_DAYS * 24 * 60 - 30) * (i + 0.5) / count) for i in range(count)]
    rng.shuffle(ages)
    facility_ids = [f.id for f in FACILITIES]
    created = 0
    with tqdm(total=count, desc="demo listings", unit="listing", disable=None if progress else True) as bar:
        for index, listing in enumerate(DEMO_LISTINGS):
            facilities = sorted(rng.sample(facility_ids, rng.randint(3, 8)))
            description = demo_description(listing, rng)
            deposit_fen = rng.choice(_DEPOSITS_YUAN) * 100
            max_days = rng.choice((0, 30))
            results = await asyncio.gather(*(
                _make_demo_image(image_store, seed) for seed in _demo_photo_seeds(index)),
                return_exceptions=True)
            stored = [r for r in results if not isinstance(r, BaseException)]
            failed = [r for r in results if isinstance(r, BaseException)]
            if failed:
                for image in stored:
                    await image_store.delete(image.key)
                raise failed[0]
            try:
                await _insert_demo_listing(db, owner_id, listing, description, facilities,
                                           deposit_fen, max_days, ages[index], stored)
            except BaseException:
                # The files were written first; without their rows they are litter.
                for image in stored:
                    await image_store.delete(image.key)
                raise
            created += 1
            bar.update(1)
    return created


async def _make_demo_image(image_store: ImageStore, seed: int) -> StoredImage:
    """Draw demo photo *seed* and store it; returns the StoredImage.

    Drawing (Pillow) runs in the executor like the store's own work, so the photos
    of one listing are made in parallel without blocking the loop.
    """
    loop = asyncio.get_running_loop()
    data = await loop.run_in_executor(None, make_demo_photo, seed)
    return await image_store.save(data)


async def _insert_demo_listing(db: Database, owner_id: int, listing: DemoListing, description: str,
                               facilities: list[int], deposit_fen: int, max_days: int, age_minutes: int,
                               stored: list[StoredImage]) -> int:
    """Write one demo listing, its facilities and photo rows in one transaction; returns its id.

    *stored* are the StoredImage results of the already saved photos, in gallery
    order; the first becomes the cover. *age_minutes* dates the listing back.
    """
    async with db.transaction() as tx:
        house_id = await tx.insert(
            "INSERT INTO houses (owner_id, area_id, title, description, price_fen, address, "
            "neighbourhood, room_count, acreage, unit, capacity, beds, deposit_fen, min_days, max_days, "
            "status, created_at, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s, 'online', "
            "NOW() - INTERVAL %s MINUTE, NOW() - INTERVAL %s MINUTE)",
            owner_id, listing.area_id, listing.title, description, listing.price_yuan * 100,
            # The title's first part names the neighbourhood ("三里屯太古里旁"): public, unlike the address.
            listing.address, listing.title.split(" · ")[0], listing.room_count, listing.acreage, listing.unit, listing.capacity,
            listing.beds, deposit_fen, max_days, age_minutes, age_minutes)
        await tx.executemany(
            "INSERT INTO house_facilities (house_id, facility_id) VALUES (%s, %s)",
            [(house_id, fid) for fid in facilities])
        image_ids = []
        for position, image in enumerate(stored):
            image_ids.append(await tx.insert(
                "INSERT INTO house_images (house_id, storage_key, width, height, position, created_at) "
                "VALUES (%s, %s, %s, %s, %s, NOW() - INTERVAL %s MINUTE)",
                house_id, image.key, image.width, image.height, position, age_minutes))
        # updated_at = updated_at: keep the back-dated value instead of ON UPDATE's NOW().
        await tx.execute("UPDATE houses SET cover_image_id = %s, updated_at = updated_at WHERE id = %s",
                         image_ids[0], house_id)
    return house_id


async def _missing_demo_areas(db: Database) -> list[int]:
    """Area ids the demo listings use that are not in ``areas``."""
    wanted = sorted({listing.area_id for listing in DEMO_LISTINGS})
    marks = ", ".join(["%s"] * len(wanted))
    rows = await db.query(f"SELECT id FROM areas WHERE id IN ({marks})", *wanted)
    return sorted(set(wanted) - {row["id"] for row in rows})

